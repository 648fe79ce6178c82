/* crc32c.c's part of the addon: defines crc32c, crc32cTable and hardware on `exports`. */
#ifndef LIFELINE_CRC32C_H
#define LIFELINE_CRC32C_H
#include <node_api.h>

napi_status crc32c_define(napi_env env, napi_value exports);

#endif
