/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_source_absxml.c: Azure Blob Storage List Blobs pages (abs.c) through
 * vx_source_abs_list_parse(), the parser production uses, with fuzz_source_s3xml.c's checks:
 * items handed to the callback must be non-empty keys of sane size; the marker must be
 * NUL-terminated.
 */
#define VX_FUZZ_LIST_PARSE vx_source_abs_list_parse
#include "fuzz_source_s3xml.c"
