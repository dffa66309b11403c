//! Progress of long library work, for whoever shows it. The library only
//! counts; drawing (and deciding whether to draw) is the caller's
//! (the CLI's is src/cli/progress.rs).

/// Told how far a job of many items has got: `done` of `total`. Called
/// once per finished item, from whichever worker thread finished it, so it
/// must be cheap and thread-safe. Any `Fn(usize, usize) + Sync` is one.
pub trait Progress: Sync {
    fn update(&self, done: usize, total: usize);
}

impl<F: Fn(usize, usize) + Sync> Progress for F {
    fn update(&self, done: usize, total: usize) {
        self(done, total)
    }
}

/// Reports to no one.
pub const SILENT: &dyn Progress = &|_: usize, _: usize| {};
