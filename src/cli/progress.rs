//! The one place minica draws progress: a spinner for one slow step, a bar
//! for many items. On stderr only, and only when stderr is a terminal and
//! the output is for people: never with `--json` or `-q`, never when `CI`
//! is set (issue #17: CI logs and pipes get no escape codes).
//!
//! Use: `let p = Indicator::bar(out, "certificates");` and hand `&p` to a
//! library function that takes a `&dyn minica::progress::Progress`; or
//! `let _s = Indicator::spinner(out, "generating an RSA-4096 key");` around
//! a slow call. Dropping it clears the line. Nothing is drawn for work done
//! within [`DELAY`], so fast commands never flicker.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Output;

/// Work that ends sooner than this shows nothing.
const DELAY: Duration = Duration::from_millis(150);
/// How often a spinner turns.
const TICK: Duration = Duration::from_millis(100);

/// A spinner or a bar on stderr, or nothing (see the module doc).
pub struct Indicator {
    shown: Option<Shown>,
}

struct Shown {
    bar: ProgressBar,
    ended: Arc<AtomicBool>,
    /// Shows the bar once DELAY has passed since it was armed; stopped
    /// when the work ends.
    timer: OnceLock<Option<std::thread::JoinHandle<()>>>,
    /// The most items reported done so far.
    last: Mutex<usize>,
}

impl Shown {
    fn arm(&self) {
        self.timer.get_or_init(|| {
            let (bar, ended) = (self.bar.clone(), self.ended.clone());
            std::thread::Builder::new()
                .spawn(move || {
                    std::thread::park_timeout(DELAY);
                    if !ended.load(Ordering::Acquire) {
                        bar.set_draw_target(ProgressDrawTarget::stderr());
                        bar.enable_steady_tick(TICK);
                    }
                })
                .ok()
        });
    }
}

impl Indicator {
    /// A spinner with `message`, for one step that may take long. Start
    /// it only where nothing will prompt (see [`ca_may_prompt`]): it
    /// would draw over the prompt.
    pub fn spinner(out: &Output, message: &str) -> Indicator {
        let i = Indicator::start(
            out,
            ProgressBar::new_spinner(),
            "{spinner} {msg} ({elapsed})",
            message,
        );
        if let Some(s) = &i.shown {
            s.arm();
        }
        i
    }

    /// A bar counting `what` ("certificates"); its length comes with the
    /// first update, and it shows nothing before it: a library function
    /// updates once its prompts (a CA passphrase) are over.
    pub fn bar(out: &Output, what: &str) -> Indicator {
        Indicator::start(
            out,
            ProgressBar::new(0),
            "{msg} [{bar:30}] {pos}/{len} ({elapsed})",
            what,
        )
    }

    fn start(out: &Output, bar: ProgressBar, template: &str, message: &str) -> Indicator {
        if !shown(out) {
            return Indicator { shown: None };
        }
        bar.set_draw_target(ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_string());
        Indicator {
            shown: Some(Shown {
                bar,
                ended: Arc::new(AtomicBool::new(false)),
                timer: OnceLock::new(),
                last: Mutex::new(0),
            }),
        }
    }

    /// Changes the words beside the spinner or bar.
    pub fn message(&self, message: &str) {
        if let Some(s) = &self.shown {
            s.bar.set_message(message.to_string());
        }
    }
}

impl minica::progress::Progress for Indicator {
    fn update(&self, done: usize, total: usize) {
        if let Some(s) = &self.shown {
            s.arm();
            // Workers report out of order: never move the bar back.
            let mut last = s.last.lock().unwrap_or_else(|p| p.into_inner());
            if done >= *last {
                *last = done;
                s.bar.set_length(total as u64);
                s.bar.set_position(done as u64);
            }
        }
    }
}

impl Drop for Indicator {
    fn drop(&mut self) {
        if let Some(s) = &mut self.shown {
            s.ended.store(true, Ordering::Release);
            if let Some(t) = s.timer.take().flatten() {
                t.thread().unpark();
                let _ = t.join();
            }
            s.bar.finish_and_clear();
        }
    }
}

/// Progress is for a person watching a terminal: not for `--json` or
/// `-q`, not under CI (which sets `CI`), not into a pipe or file.
pub fn shown(out: &Output) -> bool {
    !out.json && !out.quiet && std::env::var_os("CI").is_none() && std::io::stderr().is_terminal()
}

/// Whether opening the CA in `dir` may stop at a passphrase or PIN
/// prompt: its key is encrypted or in a token. No CA yet: the one made
/// for the command has neither.
pub fn ca_may_prompt(dir: &std::path::Path) -> bool {
    minica::config::CaConfig::load(&dir.join(minica::ca::CONFIG_FILE))
        .is_ok_and(|c| c.ca.encrypt_key || c.ca.pkcs11.is_some())
}
