"""Builds the workload's seccomp filter, as classic BPF, from the syscall table.

The table decides; this module only encodes: every syscall the table runs natively is
ALLOWed (with its argument rule, if any), every other known or unknown syscall on
x86_64 goes to the platform's trap action (user notification or ptrace), and any other
audit arch or an x32 call kills the process.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_ALLOW = 0x7FFF0000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JMP_JEQ_K = 0x15
_JMP_JGE_K = 0x35
_JMP_JSET_K = 0x45
_JMP_JA = 0x05
_RET_K = 0x06

_OFF_NR = 0
_OFF_ARCH = 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index


class _Label:
    """A jump target inside one argument rule's block, placed by _assemble."""


_Insn = tuple  # (op, jt, jf, k) whose jt/jf may be _Labels; or ("at", label)


def _assemble(code: list[_Insn]) -> list[tuple[int, int, int, int]]:
    """Resolves the _Labels of a block (every jump is forward) into offsets."""
    where: dict[_Label, int] = {}
    insns: list[_Insn] = []
    for item in code:
        if item[0] == "at":
            where[item[1]] = len(insns)
        else:
            insns.append(item)
    out = []
    for i, (op, jt, jf, k) in enumerate(insns):
        def rel(x):  # type: ignore[no-untyped-def]
            return where[x] - i - 1 if isinstance(x, _Label) else x
        out.append((op, rel(jt), rel(jf), k))
    return out


class _Rule:
    """An argument rule: pred() tests the arguments and jumps to yes or no."""

    def pred(self, yes: _Label, no: _Label) -> list[_Insn]:
        raise NotImplementedError

    def encode(self, allow: int, trap: int) -> list[tuple[int, int, int, int]]:
        yes, no = _Label(), _Label()
        return _assemble(self.pred(yes, no) + [("at", no), (_RET_K, 0, 0, trap),
                                               ("at", yes), (_RET_K, 0, 0, allow)])


@dataclass(frozen=True)
class ArgIn(_Rule):
    """Runs natively only when the low 32 bits of argument `index` are one of `values`."""

    index: int
    values: frozenset[int]

    def pred(self, yes: _Label, no: _Label) -> list[_Insn]:
        *values, last = sorted(self.values)
        code: list[_Insn] = [(_LD_W_ABS, 0, 0, _arg_low(self.index))]
        code += [(_JMP_JEQ_K, yes, 0, value) for value in values]
        return code + [(_JMP_JEQ_K, yes, no, last)]


@dataclass(frozen=True)
class ArgNotIn(_Rule):
    """Runs natively only when the low 32 bits of argument `index` are none of `values`."""

    index: int
    values: frozenset[int]

    def pred(self, yes: _Label, no: _Label) -> list[_Insn]:
        return ArgIn(self.index, self.values).pred(no, yes)


@dataclass(frozen=True)
class ArgMaskClear(_Rule):
    """Runs natively only when none of the bits of `mask` are set in argument `index`."""

    index: int
    mask: int

    def pred(self, yes: _Label, no: _Label) -> list[_Insn]:
        return [(_LD_W_ABS, 0, 0, _arg_low(self.index)), (_JMP_JSET_K, no, yes, self.mask)]


@dataclass(frozen=True)
class AllOf(_Rule):
    """Runs natively only when every one of `rules` holds."""

    rules: tuple[_Rule, ...]

    def pred(self, yes: _Label, no: _Label) -> list[_Insn]:
        code: list[_Insn] = []
        for rule in self.rules[:-1]:
            nxt = _Label()
            code += rule.pred(nxt, no) + [("at", nxt)]
        return code + self.rules[-1].pred(yes, no)


@dataclass(frozen=True)
class AnyOf(_Rule):
    """Runs natively when at least one of `rules` holds."""

    rules: tuple[_Rule, ...]

    def pred(self, yes: _Label, no: _Label) -> list[_Insn]:
        code: list[_Insn] = []
        for rule in self.rules[:-1]:
            nxt = _Label()
            code += rule.pred(yes, nxt) + [("at", nxt)]
        return code + self.rules[-1].pred(yes, no)


ArgRule = _Rule


def build_filter(native: dict[int, ArgRule | None], trap_action: int) -> bytes:
    """Returns the sock_filter array for a filter that allows `native` syscalls (each
    with its optional argument rule) and sends every other syscall to `trap_action`."""
    code: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (_LD_W_ABS, 0, 0, _OFF_NR),
        (_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
        (_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    # Argument-checked syscalls first: they cannot be cached by the kernel anyway.
    ordered = sorted(native.items(), key=lambda item: (item[1] is None, item[0]))
    for nr, rule in ordered:
        block = (
            [(_RET_K, 0, 0, SECCOMP_RET_ALLOW)]
            if rule is None
            else rule.encode(SECCOMP_RET_ALLOW, trap_action)
        )
        if len(block) > 255:
            raise ValueError(f"argument rule for syscall {nr} is too long for one jump")
        # A block is entered only on a match and always returns, so a skipped block
        # leaves the syscall number in the accumulator for the next test.
        code.append((_JMP_JEQ_K, 0, len(block), nr))
        code += block
    code.append((_RET_K, 0, 0, trap_action))
    return b"".join(struct.pack("<HBBI", op, jt, jf, k) for op, jt, jf, k in code)
