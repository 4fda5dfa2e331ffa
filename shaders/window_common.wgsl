// Prelude of the window families (conv.wgsl, conv_sg.wgsl, pool.wgsl): the
// geometry as override constants, which the kernels use (their uniform
// holds the same values and stays bound, first as in every family). With
// constant sizes the compiler turns the divisions by them into multiplies
// (a division by a uniform value runs once per lane on CPU adapters) and
// unrolls the loops over the taps. One pipeline per shape. Pooling has
// OUT_C = IN_C.
override BATCH: u32;
override IN_C: u32;
override IN_H: u32;
override IN_W: u32;
override OUT_C: u32;
override OUT_H: u32;
override OUT_W: u32;
override KH: u32;
override KW: u32;
override SH: u32;
override SW: u32;
override PH: u32;
override PW: u32;
