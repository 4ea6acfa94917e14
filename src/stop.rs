//! SIGTERM and SIGINT → a request to stop. [`on_signals`] makes the first of these signals only set a flag,
//! which the pipeline looks at between chunks and while it waits for input: it hands over the chunks already
//! read, then returns, so the command writes and saves what it has and exits 0 (Vector sends SIGTERM to an exec
//! source's command when it stops; systemd sends it to every process of a service it stops). A second
//! signal kills the process as the first would have, for a run stuck in a store that does not answer. The
//! commands ask for this only once their store has answered: before, a signal ends the process at once, as
//! nothing has been scored or learned. This file never stops anything itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The signal that asked to stop, 0 before any.
static REQUESTED: LazyLock<Arc<AtomicUsize>> = LazyLock::new(|| Arc::new(AtomicUsize::new(0)));

/// Makes SIGTERM and SIGINT a request to stop, and a second one of either the default (the process dies).
pub fn on_signals() -> Result<()> {
    let armed = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        // The default action is armed by the first signal: it must be registered before the flag that arms it.
        flag::register_conditional_default(signal, Arc::clone(&armed))
            .and_then(|_| flag::register(signal, Arc::clone(&armed)))
            .and_then(|_| flag::register_usize(signal, Arc::clone(&REQUESTED), signal as usize))
            .with_context(|| format!("cannot handle signal {signal}"))?;
    }
    Ok(())
}

/// The name of the signal that asked to stop, if one did.
pub fn requested() -> Option<&'static str> {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => None,
        signal if signal == SIGINT as usize => Some("SIGINT"),
        _ => Some("SIGTERM"),
    }
}
