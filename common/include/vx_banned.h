/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_banned.h: functions that are easy to misuse become compile errors. Include it last, after
 * every system header, in a .c file that wants the compile-time guard. The same list is also
 * enforced on every library at link level by scripts/check-symbols (undefined references).
 */
#ifndef VX_BANNED_H
#define VX_BANNED_H

#define VX_BANNED(func) sorry_##func##_is_banned_in_vx

#undef strcpy
#define strcpy(x, y) VX_BANNED(strcpy)
#undef strcat
#define strcat(x, y) VX_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) VX_BANNED(strncpy)
#undef sprintf
#define sprintf(...) VX_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) VX_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) VX_BANNED(strtok)
#undef gmtime
#define gmtime(t) VX_BANNED(gmtime)
#undef localtime
#define localtime(t) VX_BANNED(localtime)
#undef ctime
#define ctime(t) VX_BANNED(ctime)
#undef atoi
#define atoi(s) VX_BANNED(atoi)

#endif /* VX_BANNED_H */
