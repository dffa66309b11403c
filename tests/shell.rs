//! `minica completions` and `minica man`: scripts the shells accept, and a
//! page per command.

mod common;

use common::*;

#[test]
fn completions_are_scripts_the_shells_accept() {
    let env = Env::new();
    let bash = env.minica(&["completions", "bash"]).ok().stdout;
    for sub in ["issue", "store", "trust", "renew"] {
        assert!(bash.contains(sub), "{sub} missing from the bash script");
    }
    std::fs::write(env.file("minica.bash"), &bash).unwrap();
    // bash -n parses without running.
    run("bash", &["-n", &env.s("minica.bash")]).ok();
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let s = env.minica(&["completions", shell]).ok().stdout;
        assert!(s.contains("store"), "{shell}");
    }
    env.minica(&["completions", "tcsh"]).fails_with(2);
}

#[test]
fn a_man_page_per_command() {
    let env = Env::new();
    let dir = env.file("man");
    env.minica(&["man", "--out", dir.to_str().unwrap()]).ok();
    for page in [
        "minica.1",
        "minica-issue.1",
        "minica-store-add.1",
        "minica-ca-intermediate.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: not roff"
        );
        assert!(text.contains(".SH NAME"), "{page}");
    }
    assert!(
        std::fs::read_to_string(dir.join("minica-store-add.1"))
            .unwrap()
            .contains("\\-\\-cert")
    );
    // Pages are not replaced without --force.
    env.minica(&["man", "--out", dir.to_str().unwrap()])
        .fails_with(3);
    env.minica(&["man", "--out", dir.to_str().unwrap(), "--force"])
        .ok();
}
