/*
 * dtype.h — element types and their traits.
 *
 * ir_dtype uses ONNX TensorProto.DataType numbering (so does kiln_dtype in
 * the public ABI), extended past ONNX's range with kiln's 4-bit types.  A
 * quantized tensor is an integer dtype plus an ir_quant record on the value
 * (see ir.h); the dtype alone says how elements are stored.
 */
#ifndef KILN_DTYPE_H
#define KILN_DTYPE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  IR_UNDEFINED = 0,
  IR_F32 = 1,
  IR_U8 = 2,
  IR_I8 = 3,
  IR_U16 = 4,
  IR_I16 = 5,
  IR_I32 = 6,
  IR_I64 = 7,
  IR_STRING = 8,
  IR_BOOL = 9,
  IR_F16 = 10,
  IR_F64 = 11,
  IR_U32 = 12,
  IR_U64 = 13,
  IR_C64 = 14,
  IR_C128 = 15,
  IR_BF16 = 16,
  IR_F8E4M3FN = 17,
  IR_F8E4M3FNUZ = 18,
  IR_F8E5M2 = 19,
  IR_F8E5M2FNUZ = 20,
  IR_U4 = 21,
  IR_I4 = 22,
  IR_DTYPE_COUNT
} ir_dtype;

typedef struct {
  const char *name;      /* short name used by the text IR: "f32", "i64" */
  const char *onnx_name; /* TensorProto.DataType name: "FLOAT" */
  int bits;              /* storage bits per element; 0 for string */
  bool is_float;
  bool is_signed;        /* for integers; floats count as signed */
  bool supported;        /* kiln can compute with it (import accepts it) */
} ir_dtype_info;

/* IR_DTYPE_COUNT rows; no size here so that dtype.c's assertion means something. */
extern const ir_dtype_info ir_dtypes[];

static inline bool ir_dtype_valid(int dt) { return dt > 0 && dt < IR_DTYPE_COUNT; }
static inline const char *ir_dtype_name(ir_dtype dt) {
  return ir_dtype_valid((int)dt) ? ir_dtypes[dt].name : "?";
}
/* Bytes for n elements (sub-byte types round up). */
static inline int64_t ir_dtype_bytes(ir_dtype dt, int64_t n) {
  return (n * ir_dtypes[dt].bits + 7) / 8;
}
static inline bool ir_dtype_is_int(ir_dtype dt) {
  return !ir_dtypes[dt].is_float && dt != IR_BOOL && dt != IR_STRING && dt != IR_UNDEFINED &&
         dt != IR_C64 && dt != IR_C128;
}
/* Looks a dtype up by its text-IR name; IR_UNDEFINED if unknown. */
ir_dtype ir_dtype_from_name(const char *name, int len);

#endif
