//! Profiles read straight off the socket of a single Redis server reached without TLS: the replies of pipelined
//! `HGETALL`s, arrays of bulk strings, are read into the strings of the profiles with no `redis::Value` in between.
//! redis-rs's reply parser spent about 2,000 instructions on each bulk string, three fifths of what the thread that
//! loads ahead did (callgrind, 20,000 records over 8,000 keys). Only `ahead.rs` reads this way, and at the first reply
//! it does not expect (an error, a closed connection) it stops for the rest of the run and leaves the keys to the
//! store's own connections (`link.rs`), which retry, follow a cluster's redirects and say what went wrong. A server
//! that gives no answer in time is not asked again that way: that load fails at once, in `link.rs`'s words. Fresh
//! connections to a stopped server would wait again, each try longer than a timeout: a server stopped mid-`score`
//! at `?timeout=2` was given up on 18 s after it stopped, now 2 s. What a server sends cannot make it allocate more
//! than it sent, nor wait past a round trip's deadline. It never writes to the store.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use super::link::{Plain, TIMEOUT_STEP};
use super::{BATCH, PREFIX, resp};
use crate::profile::Profile;

/// Bytes read from the socket at a time: a round trip of 2,000 profiles of a few values is about a megabyte.
const READ: usize = 64 << 10;
/// The longest header line read: `*` or `$` and a length take at most 21 bytes; anything longer is not a reply
/// this reads, and is not read to its end.
const LINE: u64 = 64;

/// What a load read this way gave.
pub(super) enum Answer {
    /// The profiles of the keys, in order (none for a key that has none).
    Profiles(Vec<Option<Profile>>),
    /// No answer in time to the load begun then.
    Silent(Instant),
    /// Not read: a store this does not read, or a reply it does not expect, which the store's own connections can
    /// make sense of.
    Elsewhere,
}

/// The connection, once made, and what is reused from one round trip to the next.
pub(super) struct Quick {
    /// Where to connect; none once a read failed, or for a store this does not read.
    plain: Option<Plain>,
    conn: Option<BufReader<Timed>>,
    out: Vec<u8>,
    line: Vec<u8>,
    items: Vec<Option<String>>,
}

impl Quick {
    /// Reads the store `plain` names, if any, connecting at the first load.
    pub(super) fn new(plain: Option<Plain>) -> Quick {
        Quick { plain, conn: None, out: Vec::new(), line: Vec::new(), items: Vec::new() }
    }

    /// The profiles of `keys`, read this way if it still works; after a failure, never again in this run.
    pub(super) fn profiles(&mut self, keys: &[&str]) -> Answer {
        if self.plain.is_none() {
            return Answer::Elsewhere;
        }
        let started = Instant::now();
        match self.load(keys) {
            Ok(profiles) => Answer::Profiles(profiles),
            Err(err) => {
                (self.plain, self.conn) = (None, None);
                let silent = err.downcast_ref::<io::Error>().is_some_and(|err| timed_out(err.kind()));
                if silent { Answer::Silent(started) } else { Answer::Elsewhere }
            }
        }
    }

    fn load(&mut self, keys: &[&str]) -> Result<Vec<Option<Profile>>> {
        if self.conn.is_none() {
            self.connect()?;
        }
        let mut profiles = Vec::with_capacity(keys.len());
        for batch in keys.chunks(BATCH) {
            self.out.clear();
            for key in batch {
                resp::array(&mut self.out, 2);
                resp::bulk(&mut self.out, &[b"HGETALL"]);
                resp::bulk(&mut self.out, &[PREFIX.as_bytes(), key.as_bytes(), b"}"]);
            }
            let conn = self.conn.as_mut().context("not connected")?;
            send(conn, &self.out)?;
            for key in batch {
                hash(conn, &mut self.line, &mut self.items)?;
                profiles.push(super::build(key, self.items.drain(..))?);
            }
        }
        Ok(profiles)
    }

    /// Connects, with the timeouts of the store's own connections, and logs in.
    fn connect(&mut self) -> Result<()> {
        let plain = self.plain.as_ref().context("not read this way")?;
        // An IPv6 address is written in brackets in the URL.
        let host = plain.host.trim_start_matches('[').trim_end_matches(']');
        let addr = (host, plain.port).to_socket_addrs()?.next().context("no address")?;
        let socket = TcpStream::connect_timeout(&addr, plain.connect)?;
        socket.set_nodelay(true)?;
        socket.set_write_timeout(Some(plain.timeout))?;
        let timed = Timed { socket, timeout: plain.timeout, deadline: Instant::now(), set: None };
        let conn = self.conn.insert(BufReader::with_capacity(READ, timed));
        send(conn, &plain.login)?;
        for _ in 0..plain.commands {
            line(conn, &mut self.line)?;
            ensure!(self.line == b"+OK", "login refused");
        }
        Ok(())
    }
}

/// Writes `out` on `conn`, whose replies are then to be read before a timeout has gone by.
fn send(conn: &mut BufReader<Timed>, out: &[u8]) -> Result<()> {
    let timed = conn.get_mut();
    timed.socket.write_all(out)?;
    (timed.deadline, timed.set) = (Instant::now() + timed.timeout, None);
    Ok(())
}

/// The socket, read before the deadline of a round trip, as `link.rs` reads: a server that trickles its replies
/// is given up on then, not a timeout after each read.
struct Timed {
    socket: TcpStream,
    timeout: std::time::Duration,
    deadline: Instant,
    /// When the read timeout was last set: a system call, made again only once [`TIMEOUT_STEP`] has gone by.
    set: Option<Instant>,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        if self.set.is_none_or(|at| now - at >= TIMEOUT_STEP) {
            self.socket.set_read_timeout(Some(left))?;
            self.set = Some(now);
        }
        self.socket.read(buf)
    }
}

/// Whether a read or connect that failed with `kind` waited past its timeout (`WouldBlock` is how Unix reports a read
/// timeout).
fn timed_out(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

/// Reads one `HGETALL` reply, its fields and values in turn, into `items` (none where one is not UTF-8 text).
fn hash(conn: &mut impl BufRead, line: &mut Vec<u8>, items: &mut Vec<Option<String>>) -> Result<()> {
    let count = header(conn, line, b'*')?;
    items.clear();
    for _ in 0..count {
        items.push(text(conn, line)?);
    }
    Ok(())
}

/// The next line into `line`, without its `\r\n`.
fn line(conn: &mut impl BufRead, line: &mut Vec<u8>) -> Result<()> {
    line.clear();
    conn.take(LINE).read_until(b'\n', line)?;
    ensure!(line.ends_with(b"\r\n"), "a reply line longer than {LINE} bytes, or the connection closed");
    line.truncate(line.len() - 2);
    Ok(())
}

/// The length that a header line of `kind` (`*` an array, `$` a bulk string) gives.
fn header(conn: &mut impl BufRead, into: &mut Vec<u8>, kind: u8) -> Result<usize> {
    line(conn, into)?;
    match into.split_first() {
        Some((first, count)) if *first == kind => Ok(std::str::from_utf8(count)?.parse()?),
        _ => bail!("a reply that is not a hash: {}", String::from_utf8_lossy(into)),
    }
}

/// The next bulk string, if it is UTF-8 text. Room is made for at most [`READ`] bytes of the length its header
/// claims; more are read as they come.
fn text(conn: &mut impl BufRead, line: &mut Vec<u8>) -> Result<Option<String>> {
    let len = header(conn, line, b'$')?;
    let mut bytes = Vec::with_capacity(len.min(READ));
    conn.take(len as u64).read_to_end(&mut bytes)?;
    let mut end = [0; 2];
    ensure!(bytes.len() == len, "the connection closed inside a bulk string");
    conn.read_exact(&mut end)?;
    ensure!(end == *b"\r\n", "a bulk string longer than it said");
    Ok(String::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `hash` reads from `reply`, delivered `at` bytes at a time, and the bytes it left unread.
    fn read(reply: &[u8], at: usize) -> (Result<Vec<Option<String>>>, usize) {
        let mut conn = BufReader::with_capacity(at, reply);
        let mut items = Vec::new();
        let read = hash(&mut conn, &mut Vec::new(), &mut items).map(|()| items);
        let left = conn.buffer().len() + conn.into_inner().len();
        (read, left)
    }

    #[test]
    fn a_reply_split_anywhere_reads_the_same() {
        let reply = b"*4\r\n$5\r\nfirst\r\n$0\r\n\r\n$8\r\nip:\xe2\x82\xac01\r\n$2\r\n\xff\xfe\r\n*0\r\n";
        let want = [Some("first".into()), Some(String::new()), Some("ip:\u{20ac}01".into()), None];
        for at in 1..reply.len() {
            let (items, left) = read(reply, at);
            assert_eq!(items.unwrap(), want, "{at} bytes at a time");
            assert_eq!(left, 4, "{at} bytes at a time");
        }
    }

    #[test]
    fn lengths_a_server_only_claims_allocate_nothing() {
        for len in [usize::MAX, isize::MAX as usize, 1 << 40] {
            let reply = format!("*1\r\n${len}\r\nfirst\r\n");
            let err = read(reply.as_bytes(), 64).0.unwrap_err();
            assert!(err.to_string().contains("closed inside a bulk string"), "{len}: {err}");
        }
        let err = read(b"*1\r\n$2\r\nfirst\r\n", 64).0.unwrap_err();
        assert!(err.to_string().contains("longer than it said"), "{err}");
    }

    #[test]
    fn a_line_without_end_is_not_read_to_its_end() {
        let mut reply = b"*".to_vec();
        reply.resize(1 << 20, b'1');
        reply.extend_from_slice(b"\r\n");
        let (read, left) = read(&reply, READ);
        assert!(read.unwrap_err().to_string().contains("longer than 64 bytes"));
        assert_eq!(left, reply.len() - LINE as usize);
    }

    #[test]
    fn a_reply_that_is_not_a_hash_is_named() {
        for reply in [&b"-NOAUTH Authentication required.\r\n"[..], b"%1\r\n$1\r\na\r\n$1\r\nb\r\n", b"*-1\r\n"] {
            assert!(read(reply, 64).0.is_err(), "{}", String::from_utf8_lossy(reply));
        }
    }

    #[test]
    fn a_server_that_trickles_its_replies_is_given_up_on_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let trickle = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            // A byte every 50 ms, for 3 s: each read gets one well within the timeout.
            for _ in 0..60 {
                if peer.write_all(b"1").is_err() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let socket = TcpStream::connect(addr).unwrap();
        let timeout = std::time::Duration::from_millis(300);
        let mut timed = Timed { socket, timeout, deadline: Instant::now() + timeout, set: None };
        let started = Instant::now();
        let err = io::copy(&mut timed, &mut io::sink()).unwrap_err();
        assert!(started.elapsed() < timeout * 3, "gave up after {:?}", started.elapsed());
        assert!(timed_out(err.kind()), "{err}");
        drop(timed);
        trickle.join().unwrap();
    }

    /// A stopped server's kernel still accepts the connection, and then nothing comes back: that is answered as
    /// silence, for the load to fail at once. A reply this does not read (`-LOADING`) is left to the store's own
    /// connections. Either way this is not read again in the run.
    #[test]
    fn a_silent_server_is_told_from_one_whose_reply_is_left_to_the_store() {
        for (reply, silent) in [(&b""[..], true), (b"-LOADING Redis is loading the dataset in memory\r\n", false)] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let peer = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                conn.write_all(reply).unwrap();
                // Held open until the loader drops the connection.
                let _ = io::copy(&mut conn, &mut io::sink());
            });
            let timeout = std::time::Duration::from_millis(300);
            let (host, login) = ("127.0.0.1".to_string(), Vec::new());
            let mut quick = Quick::new(Some(Plain { host, port, login, commands: 0, timeout, connect: timeout }));
            let answer = quick.profiles(&["AKIAIOSFODNN7EXAMPLE"]);
            let shown = String::from_utf8_lossy(reply);
            assert!(matches!(answer, Answer::Silent(_) | Answer::Elsewhere), "{shown}: read a profile");
            assert_eq!(matches!(answer, Answer::Silent(_)), silent, "{shown}");
            assert!(matches!(quick.profiles(&["AKIAIOSFODNN7EXAMPLE"]), Answer::Elsewhere), "{shown}: read again");
            peer.join().unwrap();
        }
    }
}
