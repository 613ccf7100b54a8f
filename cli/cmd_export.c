#include <stdio.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"node", "CODE", "the peer to write the packet for (required)"},
	{"out", "DIR", "the folder to write it into (default: .)"},
	{"encrypt", NULL, "seal the packet to the peer's key: only the peer can read it"},
	{NULL, NULL, NULL},
};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	const char *node = cli_get(cmd, a, "node"), *out = cli_get(cmd, a, "out");
	xchg_export_opts eo = {.version = XCHG_EXPORT_OPTS_VERSION, .out_dir = out ? out : ".",
			       .flags = cli_get(cmd, a, "encrypt") ? XCHG_EXPORT_ENCRYPT : 0};
	xchg_export_result res;
	cli_progress p;
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if (!node)
		return cli_usage_error(cmd, "--node is required");
	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if (cli_progress_wanted(&p, "export")) {
		eo.progress = cli_progress_show;
		eo.progress_ctx = &p;
	}
	if ((rc = xchg_export_with(db, node, &eo, &res, &err)))
		rc = cli_fail(&err);
	else
		printf("%s\n", res.path);
	xchg_export_result_clear(&res);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_export = {
	"export", NULL, "write the next packet for a peer and print its path",
	"The packet carries every change registered for the peer that it has not\n"
	"acknowledged yet, and acknowledges the last packet received from it. It is\n"
	"named pkt_SENDER_RECIPIENT_NUMBER.zip and appears in DIR atomically.\n"
	"\n"
	"With --encrypt it is sealed to the peer's registered public key and named\n"
	"pkt_SENDER_RECIPIENT_NUMBER.zip.sealed: for e-mail or a USB stick, where\n"
	"others may read it. Only the peer can open it (xchg import, xchg inspect);\n"
	"unzip cannot. A finder learns who sends to whom, the number and the size,\n"
	"not the contents (formats/PACKET.md, section 8). The acknowledgement the peer\n"
	"writes back is sealed too.\n",
	opts, 0, 0, run,
};
