/* A stand-in for clas_system used by the deploy fault tests, compiled per MODE with the ARM cross gcc:
 *   MODE_OK       prints a valid JSON line per image in argv[2] (top-1 = class 0) and a summary
 *   MODE_CRASH    prints one image line, then dies of SIGSEGV
 *   MODE_HANG     prints one image line, then sleeps (the deploy time limit must kill it)
 *   MODE_GARBAGE  prints text that is not clas_system output
 *   MODE_TRUNC    prints one image line and half of the next, then exits 0
 *   MODE_FAIL     prints an "error: ..." line on stderr and exits 3
 *   MODE_TEXT     prints the PaddleClas deploy/lite demo's text format (top-1 = class 1, times in seconds)
 * It also writes "ran" into ./ran.marker so a test can see that it ran in the bundle dir. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void json_string(const char *s) {
  putchar('"');
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\') { putchar('\\'); putchar(*s); }
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

static void image_line(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  printf("{\"type\": \"image\", \"image\": ");
  json_string(path);
  printf(", \"topk\": [{\"class_id\": 0, \"label\": \"clear\", \"score\": 0.75}], \"probs\": [0.75, 0.25], "
         "\"timing_ms\": {\"preprocess\": 1.0, \"inference\": 2.0, \"postprocess\": 0.01}}\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "error: usage: %s CONFIG IMAGES\n", argv[0]); return 2; }
  FILE *m = fopen("ran.marker", "w");
  if (m) { fputs("ran\n", m); fclose(m); }
#if defined(MODE_FAIL)
  fprintf(stderr, "error: config.txt line 3: bad value for key 'num_threads'\n");
  return 3;
#elif defined(MODE_GARBAGE)
  printf("Segmentation fault\n\x01\x02 %%%% not json at all\n");
  return 0;
#else
  DIR *d = opendir(argv[2]);
  if (!d) { fprintf(stderr, "error: cannot open %s\n", argv[2]); return 4; }
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
#if defined(MODE_TEXT)
    printf("===clas result for image: %s/%s===\n", argv[2], e->d_name);
    printf("\tTop-1, class_id: 1, class_name:  blurred, score: 0.8\n\tTop-2, class_id: 0, class_name:  clear, score: 0.2\n");
    printf("Current time cost: 0.0125 s.\n");
    continue;
#endif
    image_line(argv[2], e->d_name);
    ++n;
#if defined(MODE_CRASH)
    fprintf(stderr, "about to crash\n");
    raise(SIGSEGV);
#elif defined(MODE_HANG)
    for (;;) sleep(1);
#elif defined(MODE_TRUNC)
    printf("{\"type\": \"image\", \"image\": \"x");
    fflush(stdout);
    return 0;
#endif
  }
  closedir(d);
#if defined(MODE_TEXT)
  return 0;
#endif
  printf("{\"type\": \"summary\", \"engine\": \"fake\", \"engine_version\": \"0\", \"threads\": 1, \"power_mode\": 0, "
         "\"warmup\": 0, \"repeats\": 1, \"images\": %d, \"latency_ms\": {\"init\": 1.0, \"first\": 2.0, \"min\": 2.0, "
         "\"max\": 2.0, \"mean\": 2.0, \"std\": 0.0, \"p50\": 2.0, \"p90\": 2.0, \"p99\": 2.0, \"samples\": [2.0]}}\n", n);
  return 0;
#endif
}
