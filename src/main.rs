//! The `minica` command: parse, run one library call, print, and map errors
//! to the exit codes documented in the README.

mod cli;

fn main() {
    let cli = cli::Cli::parse_fast();
    let out = cli.output();
    let code = match cli.run() {
        Ok(code) => code,
        Err(e) => {
            out.error(&e);
            e.exit_code()
        }
    };
    let code = match cli::stdout_failure() {
        Some(e) => {
            eprintln!("minica: error: {e}");
            minica::error::exit::FAILED
        }
        None => code,
    };
    std::process::exit(code);
}
