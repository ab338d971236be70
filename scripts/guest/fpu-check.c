/*
 * Run inside User-Mode Linux (scripts/guest/inside.sh does, when the XSAVE shim had to rewrite a
 * register write): four threads of one process each hold values of their own in every vector
 * register (YMM0-15; ZMM0-31 with AVX-512) while UML switches between them on its one CPU, saving
 * and restoring their FPU state through ptrace and the shim; each then checks its registers came
 * back intact. Exit 0 when all did, 1 when any did not (UML would corrupt programs' state).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { THREADS = 4, SPIN = 150 * 1000 * 1000 };

static void spin(void) {
  /* Only general registers here, long enough for several of UML's timer ticks. */
  __asm__ volatile("mov %0, %%rcx\n1: dec %%rcx\n jnz 1b" : : "r"((long)SPIN) : "rcx");
}

__attribute__((target("avx"))) static int check_ymm(unsigned char fill) {
  unsigned char in[32], out[16][32];
  memset(in, fill, sizeof in);
#define LOAD(n) __asm__ volatile("vmovdqu %0, %%ymm" #n : : "m"(in) : "xmm" #n);
#define STORE(n) __asm__ volatile("vmovdqu %%ymm" #n ", %0" : "=m"(out[n]));
  LOAD(0) LOAD(1) LOAD(2) LOAD(3) LOAD(4) LOAD(5) LOAD(6) LOAD(7)
  LOAD(8) LOAD(9) LOAD(10) LOAD(11) LOAD(12) LOAD(13) LOAD(14) LOAD(15)
  spin();
  STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7)
  STORE(8) STORE(9) STORE(10) STORE(11) STORE(12) STORE(13) STORE(14) STORE(15)
  __asm__ volatile("vzeroupper");
  for (int r = 0; r < 16; r++)
    if (memcmp(out[r], in, sizeof in) != 0) return fprintf(stderr, "fpu-check: ymm%d lost its value\n", r), 1;
  return 0;
}

__attribute__((target("avx512f"))) static int check_zmm(unsigned char fill) {
  unsigned char in[64], out[64];
  memset(in, fill, sizeof in);
  __asm__ volatile("vmovdqu64 %0, %%zmm16\n vmovdqu64 %0, %%zmm31\n vmovdqu64 %0, %%zmm1" : : "m"(in) : "xmm16", "xmm31", "xmm1");
  spin();
  for (int r = 0; r < 3; r++) {
    if (r == 0) __asm__ volatile("vmovdqu64 %%zmm16, %0" : "=m"(out));
    if (r == 1) __asm__ volatile("vmovdqu64 %%zmm31, %0" : "=m"(out));
    if (r == 2) __asm__ volatile("vmovdqu64 %%zmm1, %0" : "=m"(out));
    if (memcmp(out, in, sizeof in) != 0) return fprintf(stderr, "fpu-check: zmm%d lost its value\n", r == 0 ? 16 : r == 1 ? 31 : 1), 1;
  }
  __asm__ volatile("vzeroupper");
  return 0;
}

static void *worker(void *arg) {
  unsigned char fill = (unsigned char)(0x11 * (1 + (long)arg));
  long bad = __builtin_cpu_supports("avx") ? check_ymm(fill) : 0;
  if (!bad && __builtin_cpu_supports("avx512f")) bad = check_zmm(fill);
  return (void *)bad;
}

int main(void) {
  pthread_t t[THREADS];
  long bad = 0;
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(t[i], &r);
    bad |= (long)r;
  }
  if (!bad) puts("fpu-check: every thread's vector registers survived");
  return bad ? 1 : 0;
}
