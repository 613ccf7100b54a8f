/* Whole-file helpers the unit tests share; a failure fails the test. */
#include "files.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long size;

	cr_assert_not_null(f, "%s: %s (tests run from the repository's root)", path,
			   strerror(errno));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)size + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size, "%s: short read", path);
	buf[size] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)size;
	return buf;
}

void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len, "%s: short write", path);
	cr_assert_eq(fclose(f), 0, "%s: %s", path, strerror(errno));
}

int file_exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

void copy_file(const char *from, const char *to)
{
	size_t len;
	unsigned char *data = read_file(from, &len);

	write_file(to, data, len);
	free(data);
}
