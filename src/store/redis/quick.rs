//! Profiles read straight off the socket of a single Redis server reached without TLS: the replies of pipelined
//! `HGETALL`s, arrays of bulk strings, are read into the strings of the profiles with no `redis::Value` in between.
//! redis-rs's reply parser spent about 2,000 instructions on each bulk string, three fifths of what the thread that
//! loads ahead did (callgrind, 20,000 records over 8,000 keys). Only `ahead.rs` reads this way, and at the first reply
//! it does not expect (an error, a closed connection, a timeout) it stops for the rest of the run and leaves the
//! keys to the store's own connections (`link.rs`), which retry, follow a cluster's redirects and say what went
//! wrong. It never writes to the store.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use anyhow::{Context, Result, bail, ensure};

use super::link::Plain;
use super::{BATCH, PREFIX, resp};
use crate::profile::Profile;

/// Bytes read from the socket at a time: a round trip of 2,000 profiles of a few values is about a megabyte.
const READ: usize = 64 << 10;
/// The longest header line read: `*N`, `$N` and `+OK` are a few bytes, so that a reply that is not what was asked
/// for takes no more memory than this before it is found out.
const LINE: u64 = 1024;

/// The connection, once made, and what is reused from one round trip to the next.
pub(super) struct Quick {
    /// Where to connect; none once a read failed, or for a store this does not read.
    plain: Option<Plain>,
    conn: Option<BufReader<TcpStream>>,
    out: Vec<u8>,
    line: Vec<u8>,
    items: Vec<Option<String>>,
}

impl Quick {
    /// Reads the store `plain` names, if any, connecting at the first load.
    pub(super) fn new(plain: Option<Plain>) -> Quick {
        Quick { plain, conn: None, out: Vec::new(), line: Vec::new(), items: Vec::new() }
    }

    /// The profiles of `keys`, in order (none for a key that has none), or nothing if they could not be read this
    /// way: then never again in this run.
    pub(super) fn profiles(&mut self, keys: &[&str]) -> Option<Vec<Option<Profile>>> {
        self.plain.as_ref()?;
        let loaded = self.load(keys);
        if loaded.is_err() {
            (self.plain, self.conn) = (None, None);
        }
        loaded.ok()
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
            self.send()?;
            for key in batch {
                let count = self.header(b'*')?;
                self.items.clear();
                for _ in 0..count {
                    let text = self.text()?;
                    self.items.push(text);
                }
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
        socket.set_read_timeout(Some(plain.timeout))?;
        socket.set_write_timeout(Some(plain.timeout))?;
        let commands = plain.commands;
        self.out.clone_from(&plain.login);
        self.conn = Some(BufReader::with_capacity(READ, socket));
        self.send()?;
        for _ in 0..commands {
            self.line()?;
            ensure!(self.line == b"+OK", "login refused");
        }
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        let conn = self.conn.as_mut().context("not connected")?;
        Ok(conn.get_mut().write_all(&self.out)?)
    }

    /// The next line, without its `\r\n`.
    fn line(&mut self) -> Result<()> {
        let conn = self.conn.as_mut().context("not connected")?;
        self.line.clear();
        conn.take(LINE).read_until(b'\n', &mut self.line)?;
        ensure!(self.line.ends_with(b"\r\n"), "connection closed");
        self.line.truncate(self.line.len() - 2);
        Ok(())
    }

    /// The length that a header line of `kind` (`*` an array, `$` a bulk string) gives.
    fn header(&mut self, kind: u8) -> Result<usize> {
        self.line()?;
        match self.line.split_first() {
            Some((first, count)) if *first == kind => Ok(std::str::from_utf8(count)?.parse()?),
            _ => bail!("a reply that is not a hash: {}", String::from_utf8_lossy(&self.line)),
        }
    }

    /// The next bulk string, if it is UTF-8 text. Its memory grows with what arrives, not with the length it says.
    fn text(&mut self) -> Result<Option<String>> {
        let len = self.header(b'$')?;
        let conn = self.conn.as_mut().context("not connected")?;
        let mut bytes = Vec::with_capacity(len.min(READ) + 2);
        conn.take(len as u64 + 2).read_to_end(&mut bytes)?;
        ensure!(bytes.len() == len + 2 && bytes.ends_with(b"\r\n"), "a bulk string cut short");
        bytes.truncate(len);
        Ok(String::from_utf8(bytes).ok())
    }
}
