//! linux.seccomp: the OCI profile compiled with libseccomp (the library
//! runc, crun and youki use, so names, architectures and argument checks
//! mean the same here as there) and loaded just before the container
//! process runs.
//!
//! Read as runc reads it: SCMP_ACT_ERRNO without errnoRet is EPERM;
//! SCMP_ACT_KILL kills the thread; a rule whose action is the default
//! action is left out; several conditions on one argument index become one
//! rule each (libseccomp takes one condition per argument and rule); a
//! syscall name this libseccomp does not know on any of the filter's
//! architectures is skipped (it cannot be called here, and profiles such as
//! Docker's list names newer than some kernels). The filter does not set
//! no_new_privs itself: process.noNewPrivileges decides that.

use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::SysError;

const EPERM: u32 = libc::EPERM as u32;

/// A compiled filter, ready to load.
pub struct Filter {
    ctx: ScmpFilterContext,
    /// Syscall names skipped as unknown, for the caller to report.
    pub skipped: Vec<String>,
}

fn err(field: &str, e: impl std::fmt::Display) -> SysError {
    SysError::spec(format!("linux.seccomp{field}"), e.to_string())
}

fn action(
    a: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction, SysError> {
    let ret = errno_ret.unwrap_or(EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => {
            let ret = i32::try_from(ret)
                .ok()
                .filter(|r| *r <= i32::from(u16::MAX))
                .ok_or_else(|| err(field, format!("errnoRet {ret} is out of range")))?;
            ScmpAction::Errno(ret)
        }
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(ret)
                .map_err(|_| err(field, format!("errnoRet {ret} is out of range")))?,
        ),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(err(
                field,
                "SCMP_ACT_NOTIFY (a seccomp agent) is not supported by podshim",
            ))
        }
    })
}

fn compare(
    arg: &oci_spec::runtime::LinuxSeccompArg,
    field: &str,
) -> Result<ScmpArgCompare, SysError> {
    let index = u32::try_from(arg.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| err(field, format!("args index {} is not 0-5", arg.index())))?;
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            // value is the mask, valueTwo what the masked argument equals.
            return Ok(ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ));
        }
    };
    Ok(ScmpArgCompare::new(index, op, arg.value()))
}

/// Compiles `profile`. Every error names the field at fault.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SysError> {
    if profile.listener_path().is_some() {
        return Err(err(
            ".listenerPath",
            "a seccomp agent is not supported by podshim",
        ));
    }
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        ".defaultAction",
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err(".defaultAction", e))?;
    ctx.set_ctl_nnp(false).map_err(|e| err("", e))?;
    for arch in profile.architectures().iter().flatten() {
        let name = arch.to_string();
        let a = ScmpArch::from_str(&name).map_err(|e| err(".architectures", e))?;
        if !ctx.is_arch_present(a).unwrap_or(false) {
            ctx.add_arch(a)
                .map_err(|e| err(".architectures", format!("{name}: {e}")))?;
        }
    }
    for flag in profile.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            // Only meaningful with a seccomp agent, which is refused.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(err(
                    ".flags",
                    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a seccomp agent, not supported",
                ))
            }
        }
        .map_err(|e| err(".flags", format!("{flag}: {e}")))?;
    }
    let mut skipped = Vec::new();
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        add_rule(&mut ctx, rule, default, i, &mut skipped)?;
    }
    Ok(Filter { ctx, skipped })
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    default: ScmpAction,
    i: usize,
    skipped: &mut Vec<String>,
) -> Result<(), SysError> {
    let field = format!(".syscalls[{i}]");
    let act = action(rule.action(), rule.errno_ret(), &field)?;
    if act == default {
        return Ok(());
    }
    let conds: Vec<ScmpArgCompare> = rule
        .args()
        .iter()
        .flatten()
        .map(|a| compare(a, &field))
        .collect::<Result<_, _>>()?;
    let mut indices: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
    indices.sort_unstable();
    let repeated = indices.windows(2).any(|w| w[0] == w[1]);
    for name in rule.names() {
        // Resolved per architecture by libseccomp when the rule is added.
        let Ok(sys) = libseccomp::ScmpSyscall::from_name(name) else {
            skipped.push(name.clone());
            continue;
        };
        let added = if conds.is_empty() {
            ctx.add_rule(act, sys).map(|_| ())
        } else if repeated {
            conds
                .iter()
                .try_for_each(|c| ctx.add_rule_conditional(act, sys, &[*c]).map(|_| ()))
        } else {
            ctx.add_rule_conditional(act, sys, &conds).map(|_| ())
        };
        added.map_err(|e| err(&field, format!("{name}: {e}")))?;
    }
    Ok(())
}

impl Filter {
    /// Loads the filter into the calling thread (and, with TSYNC, its
    /// siblings). Without no_new_privs this needs CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<(), SysError> {
        self.ctx.load().map_err(|e| err("", format!("load: {e}")))
    }
}
