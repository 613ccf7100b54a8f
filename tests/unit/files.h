/* Whole-file helpers the unit tests share; a failure fails the test. */
#ifndef XCHG_TEST_FILES_H
#define XCHG_TEST_FILES_H

#include <stddef.h>

/* The whole file, NUL-terminated past *len (len may be NULL); the caller frees it. */
unsigned char *read_file(const char *path, size_t *len);
void write_file(const char *path, const void *data, size_t len);
int file_exists(const char *path);
void copy_file(const char *from, const char *to);

#endif
