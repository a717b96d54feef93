/* The C baseline for zero-page detection: memcmp of each 4 KiB page against a zero page over
 * a buffer, all-zero pages and pages non-zero only in their last byte. Prints GB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  size_t len = argc > 1 ? strtoull(argv[1], 0, 10) : (size_t)1 << 30;
  unsigned char *buf = aligned_alloc(4096, len);
  static unsigned char zero[4096];
  memset(buf, 0, len);
  for (int last = 0; last < 2; last++) {
    if (last) for (size_t p = 0; p < len; p += 4096) buf[p + 4095] = 1;
    double best = 1e9;
    long found = 0;
    for (int rep = 0; rep < 5; rep++) {
      double t = now();
      found = 0;
      for (size_t p = 0; p < len; p += 4096) found += memcmp(buf + p, zero, 4096) == 0;
      double d = now() - t;
      if (d < best) best = d;
    }
    printf("%s %.3f %ld\n", last ? "last-byte" : "zero", len / best / 1e9, found);
  }
  return 0;
}
