/*
 * Fuzz target: the scanner that guards cJSON (lib/json_scan.c). The input
 * is a JSON text; its first byte also picks the size of the pieces it is
 * fed in a second time. What must hold:
 *  - fed in pieces, the scanner stops at the same byte with the same
 *    verdict as fed whole: the reader feeds it whatever its source gives;
 *  - it never says it used more bytes than it was given;
 *  - an object it passes (json_object_fault) that cJSON then parses holds
 *    only valid UTF-8, in every string and every member name: what the
 *    scanner promises the rest of the library.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_strings(const cJSON *item)
{
	for (; item; item = item->next) {
		check(!item->string || json_utf8_valid(item->string));
		check(!cJSON_IsString(item) || json_utf8_valid(item->valuestring));
		check_strings(item->child);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_scan whole, parts;
	const char *why = NULL;
	size_t used = 0, off = 0, piece, n;
	int verdict, st = JSON_SCAN_MORE;
	char *text;
	cJSON *root;

	json_scan_init(&whole, 0);
	verdict = json_scan_run(&whole, data, size, &used, &why);
	check(used <= size);
	check(verdict != JSON_SCAN_BAD || why);
	piece = size ? 1 + data[0] % 7 : 1;
	json_scan_init(&parts, 0);
	while (off < size && st == JSON_SCAN_MORE) {
		n = size - off < piece ? size - off : piece;
		st = json_scan_run(&parts, data + off, n, &used, &why);
		check(used <= n);
		off += used;
	}
	check(st == verdict);
	check(st == JSON_SCAN_MORE ? off == size : 1);

	if (!(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (!json_object_fault(text, 0) && (root = cJSON_Parse(text))) {
		check_strings(root);
		cJSON_Delete(root);
	}
	free(text);
	return 0;
}
