#include "progress.h"

void progress_start(progress *p, int64_t total)
{
	p->done = 0;
	p->total = total > 0 ? total : 0;
}

void progress_step(progress *p)
{
	p->done++;
	if (p->cb && p->done % PROGRESS_EVERY == 0)
		p->cb(p->done, p->total > p->done ? p->total : 0, p->ctx);
}

void progress_estimate(progress *p, uint64_t read, uint64_t size)
{
	if (size > 0 && read > 0 && read <= size)
		p->total = (int64_t)((double)p->done * (double)size / (double)read);
}

void progress_end(progress *p)
{
	if (p->cb && p->done >= PROGRESS_EVERY)
		p->cb(p->done, p->done, p->ctx);
}
