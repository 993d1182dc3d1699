/*
 * dtype.c — the dtype trait table (one row per ONNX data type).
 */
#include "dtype.h"

#include <string.h>

/* Sized by its rows, not by IR_DTYPE_COUNT, so the assertion below can fail
 * (a dtype added at the end of the enum without a row); a row missing in
 * the middle is caught by tests/unit/test_tables.c. */
const ir_dtype_info ir_dtypes[] = {
    [IR_UNDEFINED] = {.name = "undef", .onnx_name = "UNDEFINED"},
    [IR_F32] = {.name = "f32", .onnx_name = "FLOAT", .bits = 32, .is_float = true, .is_signed = true, .supported = true},
    [IR_U8] = {.name = "u8", .onnx_name = "UINT8", .bits = 8, .supported = true},
    [IR_I8] = {.name = "i8", .onnx_name = "INT8", .bits = 8, .is_signed = true, .supported = true},
    [IR_U16] = {.name = "u16", .onnx_name = "UINT16", .bits = 16, .supported = true},
    [IR_I16] = {.name = "i16", .onnx_name = "INT16", .bits = 16, .is_signed = true, .supported = true},
    [IR_I32] = {.name = "i32", .onnx_name = "INT32", .bits = 32, .is_signed = true, .supported = true},
    [IR_I64] = {.name = "i64", .onnx_name = "INT64", .bits = 64, .is_signed = true, .supported = true},
    [IR_STRING] = {.name = "string", .onnx_name = "STRING", .bits = 0},
    [IR_BOOL] = {.name = "bool", .onnx_name = "BOOL", .bits = 8, .supported = true},
    [IR_F16] = {.name = "f16", .onnx_name = "FLOAT16", .bits = 16, .is_float = true, .is_signed = true, .supported = true},
    [IR_F64] = {.name = "f64", .onnx_name = "DOUBLE", .bits = 64, .is_float = true, .is_signed = true, .supported = true},
    [IR_U32] = {.name = "u32", .onnx_name = "UINT32", .bits = 32, .supported = true},
    [IR_U64] = {.name = "u64", .onnx_name = "UINT64", .bits = 64, .supported = true},
    [IR_C64] = {.name = "c64", .onnx_name = "COMPLEX64", .bits = 64, .is_float = true, .is_signed = true},
    [IR_C128] = {.name = "c128", .onnx_name = "COMPLEX128", .bits = 128, .is_float = true, .is_signed = true},
    [IR_BF16] = {.name = "bf16", .onnx_name = "BFLOAT16", .bits = 16, .is_float = true, .is_signed = true, .supported = true},
    [IR_F8E4M3FN] = {.name = "f8e4m3fn", .onnx_name = "FLOAT8E4M3FN", .bits = 8, .is_float = true, .is_signed = true},
    [IR_F8E4M3FNUZ] = {.name = "f8e4m3fnuz", .onnx_name = "FLOAT8E4M3FNUZ", .bits = 8, .is_float = true, .is_signed = true},
    [IR_F8E5M2] = {.name = "f8e5m2", .onnx_name = "FLOAT8E5M2", .bits = 8, .is_float = true, .is_signed = true},
    [IR_F8E5M2FNUZ] = {.name = "f8e5m2fnuz", .onnx_name = "FLOAT8E5M2FNUZ", .bits = 8, .is_float = true, .is_signed = true},
    [IR_U4] = {.name = "u4", .onnx_name = "UINT4", .bits = 4, .supported = true},
    [IR_I4] = {.name = "i4", .onnx_name = "INT4", .bits = 4, .is_signed = true, .supported = true},
};
_Static_assert(sizeof ir_dtypes / sizeof ir_dtypes[0] == IR_DTYPE_COUNT, "dtype table out of step");

ir_dtype ir_dtype_from_name(const char *name, int len) {
  for (int i = 1; i < IR_DTYPE_COUNT; i++)
    if ((int)strlen(ir_dtypes[i].name) == len && !memcmp(ir_dtypes[i].name, name, (size_t)len))
      return (ir_dtype)i;
  return IR_UNDEFINED;
}
