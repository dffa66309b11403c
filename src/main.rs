//! The `minica` command: parse, run one library call, print, and map errors
//! to the exit codes documented in the README.

// On Linux the C runtime calls `main` below directly, without std's start-up
// (`lang_start`): that installs a stack-overflow handler whose main-thread
// guard glibc finds by reading and parsing /proc/self/maps, plus an
// alternate signal stack and two signal handlers, ~0.15 ms of an `issue`'s
// ~4 ms (perf; a hello-world measured 1.17 against 1.03 ms). What of it
// matters is done in `start_like_std`. Arguments still come from std: on
// glibc it reads them from its own `.init_array` entry, not from `main`.
#![cfg_attr(all(target_os = "linux", not(test)), no_main)]

mod cli;

#[cfg(all(target_os = "linux", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    start_like_std();
    // A panic must not unwind out of an `extern "C"` function (that aborts):
    // it ends as std's `main` would, the hook having printed it, with 101.
    match std::panic::catch_unwind(run) {
        Ok(code) => std::process::exit(code),
        Err(_) => std::process::exit(101),
    }
}

#[cfg(not(all(target_os = "linux", not(test))))]
fn main() {
    std::process::exit(run());
}

/// What std's start-up does that this program relies on.
#[cfg(all(target_os = "linux", not(test)))]
fn start_like_std() {
    // SAFETY: plain libc calls on this process's own descriptors and signal
    // disposition, before any other thread exists.
    unsafe {
        // A closed stdin, stdout or stderr gets /dev/null, so that no file
        // opened later takes its number and receives what is printed (a key
        // file written by `println!`). std does the same, and aborts if it
        // cannot.
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        if libc::poll(fds.as_mut_ptr(), 3, 0) == -1 {
            // EINTR, ENOMEM, EINVAL (an RLIMIT_NOFILE below 3): ask each.
            for pfd in &mut fds {
                if libc::fcntl(pfd.fd, libc::F_GETFD) == -1 {
                    pfd.revents = libc::POLLNVAL;
                }
            }
        }
        for pfd in fds {
            if pfd.revents & libc::POLLNVAL != 0
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) != pfd.fd
            {
                libc::abort();
            }
        }
        // Writing to a closed pipe is an EPIPE error to report, not a
        // signal that kills the process mid-transaction (std's default).
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// The whole command; its exit code.
fn run() -> i32 {
    let cli = cli::Cli::parse_fast();
    let out = cli.output();
    let code = match cli.run() {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            e.exit_code()
        }
    };
    match cli::stdout_failure() {
        Some(e) => {
            eprintln!("minica: error: {e}");
            minica::error::exit::FAILED
        }
        None => code,
    }
}
