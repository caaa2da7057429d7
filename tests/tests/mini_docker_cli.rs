//! mini-docker's command line as a Docker user meets it: clap's errors
//! shown whole with Docker's exit statuses, flags that end at the image,
//! and the run flags, commands and formats scripts written for Docker use.
//!
//! Docker's client (cobra) answers a flag it does not know, or a value it
//! cannot take, with 125, and a wrong count of arguments with 1; its bare
//! `docker` prints the help and exits 0. These were measured on Docker
//! 20.10 (`docker run --bogus`: 125, `docker ps extra`: 1, `docker
//! inspect`: 1, `docker bogus`: 1).

use nslab_tests::As;
use nslab_tests::mini_docker::Lab;

/// The binaries each lab copies: mini-docker, and the probe it mounts.
const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// Refusals of the command line itself: no container is made, so any user
/// may run them.
#[test]
fn command_line_errors_whole_with_dockers_statuses() {
    let Some(lab) = Lab::new("mini-docker command line", As::Rootless, &BINARIES) else { return };
    // Bare: the help, on stderr as Docker's, and success.
    let bare = lab.run::<&str>(&[]);
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    assert!(bare.stderr.contains("Usage: mini-docker [OPTIONS] <COMMAND>"), "{}", bare.stderr);
    assert!(bare.stderr.contains("\nCommands:\n  run "), "{}", bare.stderr);
    let help = lab.run(&["run", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage: mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]"));

    for (args, code, lines) in [
        // A flag it does not know: 125, with clap's tip and the usage line.
        (
            &["run", "--memroy", "1m", "host"][..],
            125,
            &[
                "error: unexpected argument '--memroy' found",
                "  tip: a similar argument exists: '--memory'",
                "Usage: mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            ][..],
        ),
        (&["ps", "--bogus"], 125, &["error: unexpected argument '--bogus' found"]),
        // A value it cannot take: 125.
        (
            &["run", "-m", "16x", "host"],
            125,
            &["error: invalid value '16x' for '--memory <SIZE>': \"16x\" is not a size: use a \
               number with an optional k, m or g"],
        ),
        // Wrong counts of arguments: 1.
        (
            &["run"],
            1,
            &[
                "error: the following required arguments were not provided:",
                "Usage: mini-docker run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            ],
        ),
        (&["ps", "extra"], 1, &["error: unexpected argument 'extra' found"]),
        (&["inspect"], 1, &["error: the following required arguments were not provided:"]),
        (
            &["exec", "box"],
            1,
            &["error: 2 values required by '<CONTAINER> <COMMAND>...'; only 1 was provided"],
        ),
        (&["bogus"], 1, &["error: unrecognized subcommand 'bogus'"]),
    ] {
        let ran = lab.run(args);
        ran.assert_refused(code, lines[0]);
        for line in lines {
            assert!(
                ran.stderr.lines().any(|l| l == *line),
                "{args:?}: no {line:?}: {}",
                ran.stderr
            );
        }
    }
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

/// Flags end at the image, as Docker's do: `-c` after it is the command's
/// (before, it would be `--cpu-shares`); so is `--help`.
fn flags_end_at_the_image(who: As) {
    let Some(lab) = Lab::new("mini-docker flags end at the image", who, &BINARIES) else { return };
    let ran = lab.run(&["run", "--rm", "host", "sh", "-c", "echo \"$0 $1\"", "-c", "--help"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "-c --help\n"), "{}", ran.stderr);
    let ran = lab.run(&["run", "--rm", "host", "-c"]);
    ran.assert_refused(127, "\"-c\"");
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

#[test]
fn flags_end_at_the_image_as_root() {
    flags_end_at_the_image(As::Root);
}

#[test]
fn flags_end_at_the_image_rootless() {
    flags_end_at_the_image(As::Rootless);
}
