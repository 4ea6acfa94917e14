//! Profiles loaded ahead, on a thread of their own. `score` asks for the profiles of the next chunk's new keys
//! (`Store::prefetch`) before it scores this chunk, and the next `load` takes what came. The thread has connections
//! of its own (`Link::twin`), so that nothing sent meanwhile on the store's own (a save) can meet its replies, and it
//! reads the replies and builds the profiles itself: at 80,000 keys that was about a third of the CPU time of the
//! thread that scores (perf: RESP parsing 18 %, building the profiles 12 %), now done while it scores. From a single
//! server reached without TLS it reads the replies off a socket of its own (`quick.rs`), which halves its work. It
//! never writes to the store.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender};

use anyhow::{Context, Result, anyhow};

use super::link::Link;
use super::quick::{Answer, Quick};
use crate::profile::Profile;

/// The keys of one ask, each with its profile, or none for a key that has none.
pub(super) type Loaded = HashMap<String, Option<Profile>>;

/// The thread that loads ahead, and whether an answer from it is waiting to be taken.
pub(super) struct Ahead {
    asks: SyncSender<Vec<String>>,
    answers: Receiver<Result<Loaded>>,
    waiting: bool,
}

impl Ahead {
    /// Starts the thread, which loads on `link`. It ends once this is dropped.
    pub(super) fn start(mut link: Link) -> Result<Ahead> {
        let (asks, asked) = mpsc::sync_channel::<Vec<String>>(1);
        let (answer, answers) = mpsc::sync_channel(1);
        // Read off the socket by `quick.rs` while that works, else on the store's own kind of connections; a server
        // silent to the one is not asked again on the other.
        let mut quick = Quick::new(link.plain());
        let serve = move || {
            for keys in asked {
                let names: Vec<&str> = keys.iter().map(String::as_str).collect();
                let loaded = match quick.profiles(&names) {
                    Answer::Profiles(profiles) => Ok(profiles),
                    Answer::Silent(started) => Err(link.silent("load profiles", started)),
                    Answer::Elsewhere => super::profiles(&mut link, &names),
                };
                let loaded = loaded.map(|found| keys.into_iter().zip(found).collect());
                if answer.send(loaded).is_err() {
                    return;
                }
            }
        };
        std::thread::Builder::new()
            .name("redis-ahead".to_string())
            .spawn(serve)
            .context("cannot start the thread that loads profiles ahead")?;
        Ok(Ahead { asks, answers, waiting: false })
    }

    /// Asks for the profiles of `keys`. An answer that no load took is dropped first (its failure too: a load that
    /// needs those keys asks again, and fails itself), so that nothing read long before is taken for a profile.
    pub(super) fn ask(&mut self, keys: &[&str]) -> Result<()> {
        let _ = self.take();
        if keys.is_empty() {
            return Ok(());
        }
        self.asks.send(keys.iter().map(|key| key.to_string()).collect()).map_err(|_| stopped())?;
        self.waiting = true;
        Ok(())
    }

    /// The answer to the last ask, once it has come; nothing when no answer is waiting.
    pub(super) fn take(&mut self) -> Result<Loaded> {
        if !std::mem::take(&mut self.waiting) {
            return Ok(Loaded::new());
        }
        self.answers.recv().map_err(|_| stopped())?
    }
}

fn stopped() -> anyhow::Error {
    anyhow!("the thread that loads profiles ahead stopped")
}
