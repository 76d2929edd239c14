/* Code copied into restored tasks (and the fork-time gadget).
 *
 * cryo_gadget: "syscall; int3" -- lives in cryo's own text, hence at the
 * same address in every fork of cryo.
 *
 * cryo_tramp_start..cryo_tramp_end is copied to the trampoline page:
 *   +0   syscall; int3                       one call, one stop
 *   +16  batch loop: rbx = table of 64-byte entries {nr, a1..a6, ret},
 *        r12 = count.  Runs them in order, stores each result, stops
 *        (int3) after the last or at the first result in [-4095, -1].
 *        rbx then points at the entry that stopped the loop.
 */
	.text
	.globl cryo_gadget
	.type cryo_gadget, @function
cryo_gadget:
	syscall
	int3
	.size cryo_gadget, . - cryo_gadget

	.globl cryo_tramp_start
	.globl cryo_tramp_end
	.p2align 4
cryo_tramp_start:
	syscall
	int3
	.p2align 4
1:	/* batch loop */
	test	%r12, %r12
	jz	3f
	movq	0(%rbx), %rax
	movq	8(%rbx), %rdi
	movq	16(%rbx), %rsi
	movq	24(%rbx), %rdx
	movq	32(%rbx), %r10
	movq	40(%rbx), %r8
	movq	48(%rbx), %r9
	syscall
	movq	%rax, 56(%rbx)
	cmpq	$-4095, %rax
	jae	3f
	addq	$64, %rbx
	decq	%r12
	jmp	1b
3:	int3
cryo_tramp_end:
	.section .note.GNU-stack,"",@progbits
