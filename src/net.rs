//! Addresses → networks. Takes `sourceIPAddress` strings and gives the network they belong to: the /24 of an
//! IPv4 address and the /64 of an IPv6 one (the sizes a NAT pool, a DHCP scope or an IPv6 host's rotating
//! addresses stay inside), and whether an address falls in a list of CIDR blocks (`--trusted-networks`: VPN
//! egress, offices). An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4 address it maps. It never
//! reads records or profiles.

use std::net::IpAddr;
use std::str::FromStr;

/// The network an address is in: two addresses share one exactly when they are in the same /24 (IPv4) or
/// /64 (IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// The top 24 bits of an IPv4 address.
    V4(u32),
    /// The top 64 bits of an IPv6 address.
    V6(u64),
}

/// The network of `ip`; none for what is not an address, and for `::` and `::1`, which name no network of
/// their own (their /64 would hold every IPv4-compatible address).
pub fn network(ip: &str) -> Option<Network> {
    match address(ip)? {
        IpAddr::V4(v4) => Some(Network::V4(u32::from(v4) >> 8)),
        IpAddr::V6(v6) if v6.is_unspecified() || v6.is_loopback() => None,
        IpAddr::V6(v6) => Some(Network::V6((u128::from(v6) >> 64) as u64)),
    }
}

/// `ip` parsed, an IPv4-mapped IPv6 address as its IPv4 address.
fn address(ip: &str) -> Option<IpAddr> {
    ip.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// One CIDR block, e.g. `198.51.100.0/22` or `2001:db8::/48`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                same_bits(u32::from(base).into(), u32::from(ip).into(), 32, self.bits)
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => same_bits(u128::from(base), u128::from(ip), 128, self.bits),
            _ => false,
        }
    }
}

/// True when the top `bits` of two `width`-bit numbers agree.
fn same_bits(a: u128, b: u128, width: u32, bits: u8) -> bool {
    let shift = width - u32::from(bits);
    shift >= width || a >> shift == b >> shift
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, bits) = text.split_once('/').unwrap_or((text, ""));
        let base: IpAddr = address.trim().parse().map_err(|_| format!("'{address}' is not an IPv4 or IPv6 address"))?;
        let width = if base.is_ipv4() { 32 } else { 128 };
        let bits = match bits.trim() {
            "" => width,
            bits => Some(bits)
                .filter(|bits| bits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|bits| bits.parse::<u8>().ok())
                .filter(|b| *b <= width)
                .ok_or_else(|| format!("prefix length '/{bits}' of {address} is not a number from 0 to {width}"))?,
        };
        Ok(Cidr { base, bits })
    }
}

/// A list of CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<Cidr>);

impl Networks {
    /// Parses one block per line; blank lines and `#` comments are skipped. An error names the line.
    pub fn parse(text: &str) -> Result<Networks, String> {
        let mut blocks = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                blocks.push(line.parse().map_err(|why| format!("line {}: {why}", n + 1))?);
            }
        }
        Ok(Networks(blocks))
    }

    /// True when `ip` is an address inside one of the blocks.
    pub fn contains(&self, ip: &str) -> bool {
        !self.0.is_empty() && address(ip).is_some_and(|ip| self.0.iter().any(|block| block.contains(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_the_slash_24_and_the_slash_64() {
        assert_eq!(network("203.0.113.10"), network("203.0.113.250"));
        assert_ne!(network("203.0.113.10"), network("203.0.114.10"));
        assert_eq!(network("2001:db8:1:2::10"), network("2001:db8:1:2:abcd::1"));
        assert_ne!(network("2001:db8:1:2::10"), network("2001:db8:1:3::10"));
        assert_ne!(network("0.0.0.1"), network("::2"), "families never collide");
        assert_eq!(network("::ffff:203.0.113.9"), network("203.0.113.10"), "an IPv4-mapped address is IPv4");
        assert_eq!((network("::1"), network("::")), (None, None), "no network of their own");
        assert_eq!(network("AWS Internal"), None);
        assert_eq!(network(""), None);
    }

    #[test]
    fn cidr_blocks_parse_and_contain() {
        let nets = Networks::parse("# offices\n198.51.100.0/22\n\n2001:db8::/48  # VPN\n192.0.2.7\n").unwrap();
        assert!(nets.contains("198.51.103.255"));
        assert!(!nets.contains("198.51.104.0"));
        assert!(nets.contains("2001:db8:0:ffff::1"));
        assert!(!nets.contains("2001:db9::1"));
        assert!(nets.contains("192.0.2.7") && !nets.contains("192.0.2.8"));
        assert!(!nets.contains("ec2.amazonaws.com"));
        let everything = Networks::parse("0.0.0.0/0").unwrap();
        assert!(everything.contains("8.8.8.8") && !everything.contains("::1"));
        assert!(everything.contains("::ffff:8.8.8.8"), "an IPv4-mapped address is IPv4");
    }

    #[test]
    fn bad_blocks_name_the_line() {
        assert_eq!(
            Networks::parse("10.0.0.0/8\n10.0.0.0/33").unwrap_err(),
            "line 2: prefix length '/33' of 10.0.0.0 is not a number from 0 to 32"
        );
        assert_eq!(Networks::parse("office").unwrap_err(), "line 1: 'office' is not an IPv4 or IPv6 address");
        assert!(Networks::parse("10.0.0.0/+8").unwrap_err().contains("'/+8'"), "only digits");
    }
}
