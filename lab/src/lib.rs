//! Plumbing shared by the nslab demos.
//!
//! A demo is an ordered list of [`Experiment`]s. Each experiment does the real
//! system calls of its lesson in the demo's own source; this crate only does
//! what every demo needs and no student needs to read twice:
//!
//! - [`experiment`]: the model (a demo's experiments, their claims,
//!   host/namespace facts, verdicts) and the `--json` contract; everything
//!   below builds on it;
//! - [`spawn`]: a child process in new namespaces with a two-way channel, so the
//!   parent can act between the child's steps;
//! - [`ns`]: reading namespace identity from `/proc` (`/proc/PID/ns/*`, `NSpid`);
//! - [`privilege`]: root, or a user namespace entered first (rootless);
//! - [`render`] and [`cli`]: the text report, the common flags, exit codes;
//! - [`unprivileged`]: an experiment's steps run as an ordinary user (for
//!   the demos that make their own user namespaces).

pub mod cli;
pub mod experiment;
pub mod ns;
pub mod privilege;
pub mod render;
pub mod spawn;
pub mod unprivileged;

pub use cli::{DemoFlag, main, main_with_flags};
pub use experiment::{Demo, Experiment, Facts, Lab, Mode, Observed, Verdict, ok_or_errno};
pub use privilege::Privilege;
pub use spawn::{Channel, Child, PidFd, clone_child, fork_child};
