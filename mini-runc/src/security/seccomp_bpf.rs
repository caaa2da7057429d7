//! A seccomp filter, written out as classic BPF (the instruction set of
//! linux/filter.h that seccomp(2) takes): what `seccomp.rs` compiles a
//! profile into.
//!
//! The kernel runs the program on every system call, over a
//! `struct seccomp_data` (linux/seccomp.h):
//! ```text
//!  offset 0   int   nr                  the call's number
//!         4   u32   arch                AUDIT_ARCH_*: which ABI made it
//!         8   u64   instruction_pointer
//!        16   u64   args[6]             each read as two 32-bit words
//! ```
//! A program has one register (A), loads 32-bit words of that structure,
//! compares, jumps forward only, and ends in a `ret` whose value is the
//! answer (`SECCOMP_RET_ALLOW`, `SECCOMP_RET_ERRNO | errno`, …). The one
//! this file writes:
//! ```text
//!         ld  arch
//!         jeq AUDIT_ARCH_X86_64 ──no──┐      one section per ABI
//!         ld  nr                      │
//!         jge 0x40000000 → ret EPERM  │      x32 numbers (x86_64 only)
//!         jgt 466 → ret ENOSYS        │      newer than the profile
//!         jge 279 ──yes──┐            │      a binary search over the 66
//!         jge 157 ──yes─┐│            │      runs of numbers with one
//!         …             ││            │      answer (then 135, 57, 42)
//!         jge 41 ──no──→ ALLOW        │      0–40 (read … sendfile)
//!         (socket's argument checks)  │      41: the rules on its arguments
//!         …                           │
//!  ALLOW: ret ALLOW                   │      each answer's one `ret`,
//!  EPERM: ret ERRNO(EPERM)            │      which its runs jump to
//!         ret ERRNO(ENOSYS)           │      (clone3's)
//!         jeq AUDIT_ARCH_I386 ←───────┘
//!         …                                  the same, with i386 numbers
//!         ret KILL_PROCESS                   any other ABI
//! ```
//! Conditional jumps reach at most 255 instructions ahead. A section is
//! skipped with an unconditional `ja` (32-bit offset). A search too long
//! for its comparisons to reach the shared `ret`s gives each run a `ret`
//! of its own instead, and skips a long lower half with a `ja`. Each
//! call's block is short. Nothing here knows names or profiles.
//!
//! It imports nothing of mini-runc.

use std::collections::BTreeMap;

use libc::sock_filter;

/// The most instructions the kernel takes in one program
/// (`BPF_MAXINSNS`, linux/bpf_common.h).
pub const MAX_INSTRUCTIONS: usize = 4096;

// Opcodes (linux/bpf_common.h): class | size | mode, or class | op | source.
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS: A = data[k]
const ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K: A &= k
const JA: u16 = 0x05; // BPF_JMP | BPF_JA: pc += k
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARGS: u32 = 16;

/// x86_64 marks the x32 ABI's calls with this bit of the number
/// (`__X32_SYSCALL_BIT`, asm/unistd.h).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// How a condition compares an argument (all as unsigned 64-bit numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq(u64),
}

/// `args[index] OP value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition {
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

/// What one system call gets: the first of `conditional` whose conditions
/// all hold, else `otherwise` (else the section's default).
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub conditional: Vec<(Vec<Condition>, u32)>,
    pub otherwise: Option<u32>,
}

/// The filter for one ABI.
#[derive(Debug, Clone)]
pub struct Section {
    /// `seccomp_data.arch` of the ABI.
    pub arch: u32,
    /// Call number → its answer.
    pub calls: BTreeMap<u32, Call>,
    /// The answer for a call not in `calls`.
    pub default: u32,
    /// The answer for a number above this one (checked before `calls`).
    pub above: Option<(u32, u32)>,
    /// The answer for an x32 call (a number with [`X32_SYSCALL_BIT`] set).
    pub x32: Option<u32>,
}

/// A forward jump inside a block, fixed up once the block's end is known.
const TO_END: u8 = u8::MAX;

fn op(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The program: one section per ABI, then `bad_arch` for any other ABI.
pub fn assemble(sections: &[Section], bad_arch: u32) -> Result<Vec<sock_filter>, String> {
    let mut program = vec![op(LD_W_ABS, 0, 0, ARCH)];
    for section in sections {
        let body = section_code(section)?;
        // Equal: skip the `ja` into the section; else jump over it.
        program.push(op(JEQ_K, 1, 0, section.arch));
        program.push(op(JA, 0, 0, body.len() as u32));
        program.extend(body);
    }
    program.push(op(RET_K, 0, 0, bad_arch));
    if program.len() > MAX_INSTRUCTIONS {
        return Err(format!(
            "{} instructions, more than the kernel's {MAX_INSTRUCTIONS}",
            program.len()
        ));
    }
    Ok(program)
}

// ANCHOR: section-code
/// One ABI's code: the x32 and "newer than the profile" checks, then a
/// binary search over the call numbers (see [`Segment`]).
fn section_code(section: &Section) -> Result<Vec<sock_filter>, String> {
    let mut code = vec![op(LD_W_ABS, 0, 0, NR)];
    if let Some(answer) = section.x32 {
        code.push(op(JGE_K, 0, 1, X32_SYSCALL_BIT));
        code.push(op(RET_K, 0, 0, answer));
    }
    if let Some((highest, answer)) = section.above {
        code.push(op(JGT_K, 0, 1, highest));
        code.push(op(RET_K, 0, 0, answer));
    }
    let runs = segments(section)?;
    // The answers' `ret`s shared at the end, where every jump reaches
    // them; else (a table too long for that) one `ret` per run.
    code.extend(match shared_returns(&runs) {
        Some(search) => search,
        None => search(&runs)?,
    });
    Ok(code)
}

/// A run of call numbers, from `start` up to the next segment's start,
/// with one answer: a plain `ret` (the same for each number of the run),
/// or one call's rules on its arguments.
///
/// Why runs and a search rather than one `jeq` per name: the profile
/// allows some 370 numbers, most of them in long runs (0 to 40 on
/// x86_64…), so the runs number a few dozen; the program is a tenth of
/// the size, a call is found in about eight comparisons instead of up to
/// 370, and what the kernel does with the program at install (checking
/// it, translating it to eBPF and compiling that, then running it once
/// per call number to find the calls it may allow without running it at
/// all: `seccomp_cache_prepare`) shrinks with it.
enum Segment {
    Ret(u32, u32),
    Rules(u32, Vec<sock_filter>),
}

impl Segment {
    fn start(&self) -> u32 {
        match self {
            Segment::Ret(start, _) | Segment::Rules(start, _) => *start,
        }
    }
}

/// The section's numbers from 0 up, as runs; the last run goes on to the
/// highest number.
fn segments(section: &Section) -> Result<Vec<Segment>, String> {
    let mut runs: Vec<Segment> = Vec::new();
    let mut next = 0u32; // the first number not yet in a run
    let push_ret = |runs: &mut Vec<Segment>, start: u32, answer: u32| match runs.last() {
        Some(Segment::Ret(_, last)) if *last == answer => {}
        _ => runs.push(Segment::Ret(start, answer)),
    };
    for (nr, call) in &section.calls {
        if *nr > next {
            push_ret(&mut runs, next, section.default);
        }
        if call.conditional.is_empty() {
            push_ret(&mut runs, *nr, call.otherwise.unwrap_or(section.default));
        } else {
            runs.push(Segment::Rules(*nr, call_block(call, section.default)?));
        }
        next = nr.saturating_add(1);
    }
    push_ret(&mut runs, next, section.default);
    Ok(runs)
}

/// A binary search over `runs` (non-empty, in order), the call number in
/// A: `jge` the middle run's start, then the lower half, then the upper.
/// Every run's code ends in `ret`, so A holds the number wherever a
/// comparison reads it.
fn search(runs: &[Segment]) -> Result<Vec<sock_filter>, String> {
    if let [run] = runs {
        return Ok(match run {
            Segment::Ret(_, answer) => vec![op(RET_K, 0, 0, *answer)],
            Segment::Rules(_, block) => block.clone(),
        });
    }
    let middle = runs.len() / 2;
    let (lower, upper) = (search(&runs[..middle])?, search(&runs[middle..])?);
    let start = runs[middle].start();
    let mut code = Vec::with_capacity(lower.len() + upper.len() + 2);
    match u8::try_from(lower.len()) {
        // Taken: over the lower half, to the upper.
        Ok(skip) => code.push(op(JGE_K, skip, 0, start)),
        // Too far for a conditional jump: taken falls on an unconditional
        // one (32-bit offset), not taken steps over it.
        Err(_) => {
            code.push(op(JGE_K, 0, 1, start));
            code.push(op(JA, 0, 0, lower.len() as u32));
        }
    }
    code.extend(lower);
    code.extend(upper);
    Ok(code)
}
// ANCHOR_END: section-code

/// Where a comparison of [`shared_returns`] goes.
#[derive(Clone, Copy)]
enum Target {
    /// Ahead by this many instructions (0: the next one).
    Skip(usize),
    /// The `ret` of this answer, among those after the search.
    Ret(u32),
}

/// One instruction of [`shared_returns`]: a `jge` whose targets are known
/// once the search is laid out, or one as it is.
enum Step {
    Jge(u32, Target, Target),
    Plain(sock_filter),
}

/// The binary search of [`search`], with no `ret` of its own for a run
/// that is one answer: the comparison that finds such a run jumps to the
/// one `ret` of that answer after the search, shared by every run with
/// it. Docker's profile has some seventy runs per ABI and three answers, so
/// the section is about half as long (fewer instructions for the kernel
/// to check, translate to eBPF and compile at install). `None` when a
/// jump would reach further than a conditional one can (255).
fn shared_returns(runs: &[Segment]) -> Option<Vec<sock_filter>> {
    /// A part of the search, laid out: no code at all for one run of one
    /// answer (the comparison that finds it jumps to that answer's `ret`),
    /// else its steps.
    enum Laid {
        Answer(u32),
        Steps(Vec<Step>),
    }
    impl Laid {
        /// Where a comparison goes for this half, if its steps begin
        /// `skip` instructions ahead.
        fn target(&self, skip: usize) -> Target {
            match self {
                Laid::Answer(answer) => Target::Ret(*answer),
                Laid::Steps(_) => Target::Skip(skip),
            }
        }
        fn len(&self) -> usize {
            match self {
                Laid::Answer(_) => 0,
                Laid::Steps(steps) => steps.len(),
            }
        }
    }
    fn lay_out(runs: &[Segment]) -> Laid {
        match runs {
            [Segment::Ret(_, answer)] => return Laid::Answer(*answer),
            [Segment::Rules(_, block)] => {
                return Laid::Steps(block.iter().copied().map(Step::Plain).collect());
            }
            _ => {}
        }
        let middle = runs.len() / 2;
        let (lower, upper) = (lay_out(&runs[..middle]), lay_out(&runs[middle..]));
        // Not taken: the lower half, next; taken (at least the middle
        // run's start): the upper half, after the lower half's steps.
        let (taken, not_taken) = (upper.target(lower.len()), lower.target(0));
        let mut steps = vec![Step::Jge(runs[middle].start(), taken, not_taken)];
        for half in [lower, upper] {
            if let Laid::Steps(half) = half {
                steps.extend(half);
            }
        }
        Laid::Steps(steps)
    }
    let steps = match lay_out(runs) {
        Laid::Steps(steps) => steps,
        Laid::Answer(answer) => return Some(vec![op(RET_K, 0, 0, answer)]),
    };
    let mut answers: Vec<u32> = Vec::new();
    for step in &steps {
        if let Step::Jge(_, taken, not_taken) = step {
            for target in [taken, not_taken] {
                if let Target::Ret(answer) = target
                    && !answers.contains(answer)
                {
                    answers.push(*answer);
                }
            }
        }
    }
    let mut code = Vec::with_capacity(steps.len() + answers.len());
    for (at, step) in steps.iter().enumerate() {
        let offset = |target: &Target| -> Option<u8> {
            let ahead = match target {
                Target::Skip(n) => *n,
                Target::Ret(answer) => {
                    let ret = steps.len() + answers.iter().position(|a| a == answer)?;
                    ret - at - 1
                }
            };
            u8::try_from(ahead).ok()
        };
        code.push(match step {
            Step::Jge(start, taken, not_taken) => {
                op(JGE_K, offset(taken)?, offset(not_taken)?, *start)
            }
            Step::Plain(insn) => *insn,
        });
    }
    code.extend(answers.iter().map(|answer| op(RET_K, 0, 0, *answer)));
    Some(code)
}

/// One call's rules: each conditional rule is a run of checks that jump
/// to the next rule when one fails, then its `ret`.
fn call_block(call: &Call, default: u32) -> Result<Vec<sock_filter>, String> {
    let mut block = Vec::new();
    for (conditions, answer) in &call.conditional {
        let mut rule = Vec::new();
        for condition in conditions {
            rule.extend(check(condition));
        }
        rule.push(op(RET_K, 0, 0, *answer));
        // TO_END: to the first instruction after this rule.
        let len = rule.len();
        for (i, insn) in rule.iter_mut().enumerate() {
            let to_end = u8::try_from(len - i - 1).map_err(|_| "a rule too long".to_owned())?;
            if insn.jt == TO_END {
                insn.jt = to_end;
            }
            if insn.jf == TO_END {
                insn.jf = to_end;
            }
        }
        block.extend(rule);
    }
    block.push(op(RET_K, 0, 0, call.otherwise.unwrap_or(default)));
    Ok(block)
}

/// The checks of one condition: they fall through when it holds and jump
/// to [`TO_END`] when it does not. A 64-bit argument is two 32-bit words
/// (the high one decides unless the two are equal).
fn check(c: &Condition) -> Vec<sock_filter> {
    let (low_at, high_at) = if cfg!(target_endian = "little") {
        (ARGS + 8 * u32::from(c.index), ARGS + 8 * u32::from(c.index) + 4)
    } else {
        (ARGS + 8 * u32::from(c.index) + 4, ARGS + 8 * u32::from(c.index))
    };
    let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
    let (load_hi, load_lo) = (op(LD_W_ABS, 0, 0, high_at), op(LD_W_ABS, 0, 0, low_at));
    match c.op {
        Op::Eq => vec![load_hi, op(JEQ_K, 0, TO_END, hi), load_lo, op(JEQ_K, 0, TO_END, lo)],
        Op::MaskedEq(mask) => vec![
            load_hi,
            op(ALU_AND_K, 0, 0, (mask >> 32) as u32),
            op(JEQ_K, 0, TO_END, hi),
            load_lo,
            op(ALU_AND_K, 0, 0, mask as u32),
            op(JEQ_K, 0, TO_END, lo),
        ],
        // Holds unless both words are equal.
        Op::Ne => vec![load_hi, op(JEQ_K, 0, 2, hi), load_lo, op(JEQ_K, TO_END, 0, lo)],
        // high > hi: holds; high < hi: fails; equal: the low words decide.
        Op::Gt => vec![
            load_hi,
            op(JGT_K, 3, 0, hi),
            op(JEQ_K, 0, TO_END, hi),
            load_lo,
            op(JGT_K, 0, TO_END, lo),
        ],
        Op::Ge => vec![
            load_hi,
            op(JGT_K, 3, 0, hi),
            op(JEQ_K, 0, TO_END, hi),
            load_lo,
            op(JGE_K, 0, TO_END, lo),
        ],
        // The negations: `<` is "not >=", `<=` is "not >".
        Op::Lt => vec![
            load_hi,
            op(JGT_K, TO_END, 0, hi),
            op(JEQ_K, 0, 2, hi),
            load_lo,
            op(JGE_K, TO_END, 0, lo),
        ],
        Op::Le => vec![
            load_hi,
            op(JGT_K, TO_END, 0, hi),
            op(JEQ_K, 0, 2, hi),
            load_lo,
            op(JGT_K, TO_END, 0, lo),
        ],
    }
}

#[cfg(test)]
/// Runs a program over a `seccomp_data`, as the kernel would (only
/// the instructions this file writes).
pub(crate) fn run(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u32; 16];
    data[0] = nr;
    data[1] = arch;
    for (i, arg) in args.iter().enumerate() {
        data[4 + 2 * i] = *arg as u32;
        data[5 + 2 * i] = (*arg >> 32) as u32;
    }
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let insn = program[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { insn.jt } else { insn.jf });
        match insn.code {
            LD_W_ABS => a = data[insn.k as usize / 4],
            ALU_AND_K => a &= insn.k,
            JA => pc += insn.k as usize,
            JEQ_K => pc += jump(a == insn.k),
            JGT_K => pc += jump(a > insn.k),
            JGE_K => pc += jump(a >= insn.k),
            RET_K => return insn.k,
            other => panic!("opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_of_64_bit_arguments() {
        let values =
            [0u64, 1, 37, 38, 39, 40, 41, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0026, u64::MAX];
        for op in [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::MaskedEq(0x7e02_0000)] {
            for value in [0u64, 38, 0x1_0000_0026] {
                let mut calls = BTreeMap::new();
                let condition = Condition { index: 2, op, value };
                calls.insert(7, Call { conditional: vec![(vec![condition], 1)], otherwise: None });
                let section = Section { arch: 9, calls, default: 2, above: None, x32: None };
                let program = assemble(&[section], 3).expect("assemble");
                for arg in values.iter().copied().chain([0x7e02_0000, 0x2000_0000]) {
                    let holds = match op {
                        Op::Eq => arg == value,
                        Op::Ne => arg != value,
                        Op::Lt => arg < value,
                        Op::Le => arg <= value,
                        Op::Gt => arg > value,
                        Op::Ge => arg >= value,
                        Op::MaskedEq(mask) => arg & mask == value,
                    };
                    let got = run(&program, 7, 9, [0, 0, arg, 0, 0, 0]);
                    assert_eq!(got, if holds { 1 } else { 2 }, "{op:?} {value:#x} on {arg:#x}");
                }
                assert_eq!(run(&program, 8, 9, [0; 6]), 2, "another call: the default");
                assert_eq!(run(&program, 7, 10, [0; 6]), 3, "another ABI");
            }
        }
    }

    /// The search answers for every number as a lookup in the section's
    /// table would, across runs, gaps, rules and halves too long for a
    /// conditional jump; laid out with its own `ret`s, and with shared
    /// ones where they fit.
    #[test]
    fn the_search_is_a_lookup() {
        for (last, shared_fits) in [(600u32, false), (120, true)] {
            let mut calls = BTreeMap::new();
            for nr in (0..last).filter(|n| n % 7 != 3 && !(200..260).contains(n)) {
                let answer = if nr % 11 == 0 { 50 } else { 100 };
                calls.insert(nr, Call { conditional: Vec::new(), otherwise: Some(answer) });
            }
            for nr in [41u32, 100, 300, 301, last - 1] {
                let condition = Condition { index: 0, op: Op::Eq, value: 5 };
                calls.insert(nr, Call { conditional: vec![(vec![condition], 7)], otherwise: None });
            }
            let section =
                Section { arch: 1, calls: calls.clone(), default: 1, above: None, x32: None };
            let runs = segments(&section).expect("runs");
            let own = search(&runs).expect("search");
            let shared = shared_returns(&runs);
            assert_eq!(shared.is_some(), shared_fits, "{last} numbers");
            // What a section is made of: the shared layout where it fits.
            let code = section_code(&section).expect("section");
            assert_eq!(&code[1..], shared.as_deref().unwrap_or(&own), "{last} numbers");
            let highest = *calls.keys().max().expect("calls");
            for code in [Some(own.clone()), shared.clone()].into_iter().flatten() {
                let program: Vec<sock_filter> =
                    [op(LD_W_ABS, 0, 0, NR)].into_iter().chain(code).collect();
                for nr in 0..highest + 100 {
                    for arg in [4u64, 5] {
                        let expected = match calls.get(&nr) {
                            None => 1,
                            Some(Call { conditional, .. })
                                if !conditional.is_empty() && arg == 5 =>
                            {
                                7
                            }
                            Some(Call { conditional, .. }) if !conditional.is_empty() => 1,
                            Some(call) => call.otherwise.expect("set"),
                        };
                        let got = run(&program, nr, 1, [arg, 0, 0, 0, 0, 0]);
                        assert_eq!(got, expected, "call {nr} of {last}");
                    }
                }
            }
            if let Some(shared) = shared {
                assert!(shared.len() * 3 < own.len() * 2, "{} vs {}", shared.len(), own.len());
            }
        }
    }

    #[test]
    fn sections_x32_and_newer_calls() {
        let allow = |nrs: &[u32]| -> BTreeMap<u32, Call> {
            nrs.iter()
                .map(|n| (*n, Call { conditional: Vec::new(), otherwise: Some(100) }))
                .collect()
        };
        let first = Section {
            arch: 1,
            calls: allow(&[0, 5, 300]),
            default: 1,
            above: Some((300, 38)),
            x32: Some(99),
        };
        let second = Section { arch: 2, calls: allow(&[20]), default: 1, above: None, x32: None };
        let program = assemble(&[first, second], 0).expect("assemble");
        assert_eq!(run(&program, 5, 1, [0; 6]), 100);
        assert_eq!(run(&program, 6, 1, [0; 6]), 1);
        assert_eq!(run(&program, 301, 1, [0; 6]), 38);
        assert_eq!(run(&program, 5 | X32_SYSCALL_BIT, 1, [0; 6]), 99);
        assert_eq!(run(&program, 20, 2, [0; 6]), 100);
        assert_eq!(run(&program, 5, 2, [0; 6]), 1);
        assert_eq!(run(&program, 5, 3, [0; 6]), 0);
    }
}
