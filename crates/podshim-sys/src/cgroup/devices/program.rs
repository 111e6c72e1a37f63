//! A task's device rules compiled to a BPF_PROG_TYPE_CGROUP_DEVICE program.
//!
//! The kernel runs it for every mknod and open of a device node by a
//! process of the cgroup, with a context of three u32s: the device type
//! (low 16 bits: 1 block, 2 char) and the access asked for (high 16 bits:
//! 1 mknod, 2 read, 4 write), the major and the minor. It returns 1 to
//! allow and 0 to deny. The rules are checked last to first, and the first
//! that matches decides; a rule that matches everything ends the program.

use super::{DeviceKind, DeviceRule, ALL_ACCESS};

/// One BPF instruction, as the kernel reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst register in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes: class | op | source.
const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

// Registers: r1 the context on entry; what the program keeps in the rest.
const CTX: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;
const SCRATCH: u8 = 6;
const RET: u8 = 0;

/// The kernel's device type numbers in the context.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// A conditional jump to the end of the current rule's block; its offset
/// is filled in once the block is complete.
fn skip_unless_eq(reg: u8, value: i32) -> Insn {
    insn(JMP_JNE_K, reg, 0, 0, value)
}

/// The program for `rules`, ready to load.
pub fn compile(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, TYPE, CTX, 0, 0),
        insn(ALU64_AND_K, TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, ACCESS, CTX, 0, 0),
        insn(ALU64_RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, MAJOR, CTX, 4, 0),
        insn(LDX_MEM_W, MINOR, CTX, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let mut block = Vec::new();
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Block => block.push(skip_unless_eq(TYPE, DEV_BLOCK)),
            DeviceKind::Char => block.push(skip_unless_eq(TYPE, DEV_CHAR)),
        }
        if let Some(m) = rule.major {
            block.push(skip_unless_eq(MAJOR, m as i32));
        }
        if let Some(m) = rule.minor {
            block.push(skip_unless_eq(MINOR, m as i32));
        }
        if rule.access != ALL_ACCESS {
            block.push(insn(ALU64_MOV_X, SCRATCH, ACCESS, 0, 0));
            if rule.allow {
                // Matches when nothing outside the rule's access is asked.
                let outside = i32::from(!rule.access & ALL_ACCESS);
                block.push(insn(ALU64_AND_K, SCRATCH, 0, 0, outside));
                block.push(insn(JMP_JNE_K, SCRATCH, 0, 0, 0));
            } else {
                // Matches when any of the rule's access is asked.
                block.push(insn(ALU64_AND_K, SCRATCH, 0, 0, i32::from(rule.access)));
                block.push(insn(JMP_JEQ_K, SCRATCH, 0, 0, 0));
            }
        }
        let unconditional = block.is_empty();
        block.push(insn(ALU64_MOV_K, RET, 0, 0, i32::from(rule.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JMP_JNE_K | JMP_JEQ_K) {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
        if unconditional {
            return prog;
        }
    }
    prog.push(insn(ALU64_MOV_K, RET, 0, 0, 0));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    prog
}

#[cfg(test)]
mod tests {
    use super::super::{rules, MKNOD, READ, WRITE};
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    /// Runs a compiled program the way the kernel would, for the opcodes
    /// `compile` emits; returns its verdict.
    fn run(prog: &[Insn], kind: i32, access: u8, major: u32, minor: u32) -> bool {
        let ctx = [(kind as u32) | (u32::from(access) << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            let mut jump = |taken: bool| {
                if taken {
                    pc += i.off as usize;
                }
            };
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, CTX as usize);
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU64_AND_K => r[dst] &= imm,
                ALU64_RSH_K => r[dst] >>= imm,
                ALU64_MOV_K => r[dst] = imm,
                ALU64_MOV_X => r[dst] = r[src],
                JMP_JEQ_K => jump(r[dst] == imm),
                JMP_JNE_K => jump(r[dst] != imm),
                JMP_EXIT => return r[0] == 1,
                other => panic!("opcode {other:#x}"),
            }
            pc += 1;
        }
    }

    fn cgroup_rule(
        allow: bool,
        t: LinuxDeviceType,
        major: i64,
        minor: i64,
        access: &str,
    ) -> oci_spec::runtime::LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .major(major)
            .minor(minor)
            .access(access)
            .build()
            .unwrap()
    }

    #[test]
    fn the_default_rules_allow_the_standard_devices_and_nothing_else() {
        let p = compile(&rules(&[], &[]).unwrap());
        let c = DEV_CHAR;
        assert!(run(&p, c, READ | WRITE, 1, 3), "/dev/null");
        assert!(run(&p, c, MKNOD, 1, 9), "mknod urandom");
        assert!(run(&p, c, READ | WRITE, 136, 42), "a pts");
        assert!(run(&p, c, READ, 5, 2), "ptmx");
        assert!(run(&p, DEV_BLOCK, MKNOD, 8, 0), "mknod sda (as runc)");
        assert!(
            !run(&p, DEV_BLOCK, MKNOD | READ, 8, 0),
            "mknod and read sda"
        );
        assert!(!run(&p, DEV_BLOCK, READ, 8, 0), "read sda");
        assert!(!run(&p, c, READ, 1, 1), "/dev/mem");
        assert!(!run(&p, c, READ, 10, 237), "loop-control");
        assert!(
            !run(&p, DEV_BLOCK, READ, 1, 3),
            "a block 1:3 is not /dev/null"
        );
    }

    #[test]
    fn partial_access_and_later_rules_decide_as_v1_does() {
        let spec = [
            cgroup_rule(true, LinuxDeviceType::B, 7, -1, "r"),
            cgroup_rule(false, LinuxDeviceType::B, 7, 3, "r"),
        ];
        let p = compile(&rules(&spec, &[]).unwrap());
        assert!(run(&p, DEV_BLOCK, READ, 7, 0), "read loop0");
        assert!(!run(&p, DEV_BLOCK, READ | WRITE, 7, 0), "write loop0");
        assert!(run(&p, DEV_BLOCK, MKNOD, 7, 0), "mknod loop0");
        assert!(!run(&p, DEV_BLOCK, READ, 7, 3), "loop3 denied after");
        // A deny of one access stops a request that asks for it among others.
        let spec = [
            cgroup_rule(true, LinuxDeviceType::A, -1, -1, "rwm"),
            cgroup_rule(false, LinuxDeviceType::C, 4, 1, "w"),
        ];
        let p = compile(&rules(&spec, &[]).unwrap());
        assert!(run(&p, DEV_CHAR, READ, 4, 1));
        assert!(!run(&p, DEV_CHAR, READ | WRITE, 4, 1));
        assert!(run(&p, DEV_BLOCK, READ | WRITE | MKNOD, 8, 0));
        // The standard devices come after the spec's rules: always allowed.
        let spec = [cgroup_rule(false, LinuxDeviceType::C, 1, 3, "rwm")];
        let p = compile(&rules(&spec, &[]).unwrap());
        assert!(run(&p, DEV_CHAR, READ | WRITE, 1, 3));
    }

    #[test]
    fn privileged_allows_everything_in_a_short_program() {
        let spec = [cgroup_rule(true, LinuxDeviceType::A, -1, -1, "rwm")];
        let r = rules(&spec, &[]).unwrap();
        let p = compile(&r);
        assert!(run(&p, DEV_BLOCK, READ | WRITE | MKNOD, 8, 0));
        assert!(run(&p, DEV_CHAR, READ, 1, 1));
        // The rules before the allow-all (deny all) are never compiled in.
        let denies = p
            .iter()
            .filter(|i| i.code == ALU64_MOV_K && i.regs == RET && i.imm == 0)
            .count();
        assert_eq!(denies, 0, "{p:?}");
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
    }

    #[test]
    fn every_jump_lands_inside_the_program() {
        let spec = [
            cgroup_rule(true, LinuxDeviceType::B, 8, 0, "rw"),
            cgroup_rule(false, LinuxDeviceType::C, 4, -1, "r"),
        ];
        let p = compile(&rules(&spec, &[('c', 10, 200)]).unwrap());
        for (i, ins) in p.iter().enumerate() {
            if matches!(ins.code, JMP_JEQ_K | JMP_JNE_K) {
                let target = i + 1 + ins.off as usize;
                assert!(target < p.len(), "jump at {i} to {target} of {}", p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
    }
}
