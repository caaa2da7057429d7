//! `mini-docker exec [-it] [-u USER[:GROUP]] [-w DIR] [-e K=V]… NAME CMD…`:
//! run a command in a running container, joining its namespaces with
//! `setns` (see mini-runc's `container/tenant.rs`). A user name is looked
//! up in the container's `/etc/passwd` as it is now (through
//! `/proc/INIT/root`, see `image/users.rs`).

use std::path::PathBuf;

use clap::Args;
use mini_runc::container::state::StateDir;
use mini_runc::container::tenant::{self, Tenant};
use mini_runc::error::UsageError;

use crate::commands::{Dirs, Error, apply_env};
use crate::image::users::Accounts;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open (without it the command reads /dev/null)
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-terminal (with -i: an interactive shell)
    #[arg(short = 't', long)]
    tty: bool,
    /// Run as this user, as `run -u` takes it [default: the container's]
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Working directory [default: the container's]
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// Set an environment variable, added to the container's (KEY alone
    /// copies mini-docker's own value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The container's name or ID prefix, then the command and its
    /// arguments (flags end at the container, as Docker's do)
    #[arg(
        value_names = ["CONTAINER", "COMMAND"],
        required = true,
        num_args = 2..,
        trailing_var_arg = true
    )]
    container_and_command: Vec<String>,
}

pub fn exec(dirs: &Dirs, args: ExecArgs) -> Result<u8, Error> {
    // clap makes sure of two words at least.
    let mut words = args.container_and_command.into_iter();
    let key = &words.next().unwrap_or_default();
    let state =
        StateDir::find(&dirs.state, key).ok_or_else(|| UsageError::NoSuchContainer(key.clone()))?;
    let init = tenant::ready_init(&state).ok_or_else(|| UsageError::NotRunning(key.clone()))?;
    let mut tenant = Tenant::load(&state, words.collect())?;
    tenant.interactive = args.interactive;
    tenant.tty = args.tty;
    if let Some(user) = &args.user {
        let root = PathBuf::from(format!("/proc/{init}/root"));
        let user = Accounts::read(&root)?.resolve(user)?;
        tenant.user = (user.uid, user.gid);
        tenant.additional_gids = user.additional_gids;
    }
    if let Some(dir) = args.workdir {
        if !dir.starts_with('/') {
            return Err(UsageError::RelativeWorkdir(dir).into());
        }
        tenant.workdir = dir;
    }
    // Added to the container's environment, as `run -e` adds to the image's.
    apply_env(&mut tenant.env, &args.env)?;
    Ok(tenant::exec(init, &tenant)?)
}
