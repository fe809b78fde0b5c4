/**
 * The kernel descriptor table: one line per kernel, from which wasm.ts produces the list of
 * WebAssembly exports, the wrappers that turn the TypeScript twin's arguments (typed arrays and
 * element offsets) into the export's byte addresses, and the argument checks of
 * `loadWasmKernels(memory, { checkViews: true })`.
 *
 * A line lists the twin's parameters in order (js.ts; the names must match), space-separated:
 *   name            a number passed as is               name=1   with a default
 *   ~name           a number the twin takes but the export does not (used by other tokens)
 *   =expr           an export argument computed from the parameters (no spaces), not a parameter
 *   name:T          an array of T (f32, i32, u16, i16, i8, f64; uint: a Uint8Array or a Uint16Array, whose
 *                   width the line passes with =name.BYTES_PER_ELEMENT): the export gets its byte address
 *   name:T?         ... or null: address 0 (the arena never hands out byte 0)
 *   name:T+off      ... followed by the parameter `off`, an element offset folded into the address
 *   name:T@off      ... offset by the parameter `off` introduced by another token
 *   name:js         a JavaScript object the wrapper handles itself (composite kernels below)
 *   [expr]          (after an array) elements [off, off + expr) must lie inside it
 *   <expr           (after an i32 array with an extent) its values must lie in [0, expr)
 *   -> number       the export's result is returned
 * Expressions are JavaScript over the parameters and `rowsOf(M, n)` (rows of a (_, n) matrix).
 * Checks that a line cannot say (pair lists, vote groups) are functions in checks.ts, by name.
 */
export const KERNEL_TABLE: Readonly<Record<string, string>> = {
  dot: 'a:f32+aOff[n] b:f32+bOff[n] n -> number',
  axpy: 'alpha x:f32+xOff[n] y:f32+yOff[n] n',
  dotRows: 'W:f32 bias:f32 n rows:i32+rowsOff[nRows]<Math.min(rowsOf(W,n),bias.length) nRows x:f32+xOff[n] out:f32+outOff[nRows]',
  quantizeRows: 'W:f32[r1*n] n r0 r1 Q:i8[r1*n] scale:f32[r1] qL1:i32[r1]',
  quantizeQuery: 'x:f32[nIn] nIn xq:i16+xqOff[nIn] out:f64[4] -> number',
  scoreRowsQ8:
    'Q:i8 scale:f32 qL1:i32 bias:f32 n rows:i32+rowsOff[nRows]<Math.min(rowsOf(Q,n),scale.length,qL1.length,bias.length) nRows xq:i16[n] xs A B C lo:f32+loOff[nRows] hi:f32+hiOff[nRows]',
  scoreRowsQ8x4:
    'Q:i8[r1*n] scale:f32[r1] qL1:i32[r1] bias:f32[r1] n r0 r1 xq:i16[4*n] prm:f32[16] lo:f32[3*stride+r1] hi:f32[3*stride+r1] stride',
  rankCut: 'lo:f32[n] hi:f32[n] n K act:i32[n] sel:i32[n] tmp:f32[K] -> number',
  projectRows: 'P:f32[n*H] bias:f32[H] n H X:f32+xOff[n*m] m out:f32+outOff[H*m]',
  hadamardRows: 'S:f32[Math.ceil(H/p)*rounds*p] bias:f32[H] n p rounds H X:f32+xOff[n*m] m buf:f32[p] out:f32+outOff[H*m]',
  signKeys: 'proj:f32+projOff[m*H] H m sel:i32[K*L]<H K L keys:i32+keysOff stride',
  colSums: 'X:f32+xOff[n*m] n m acc:f64[n]',
  centredNorms: 'X:f32+xOff[n*m] n m mean:f32[n] out:f32+outOff[m]',
  wtaCodes: 'coords:i32[H*binSize]<n H binSize dwta X:f32+xOff[n*m] n m mean:f32?[n] buf:i32[8*n] codes:i32+codesOff[m>0?(H-1)*ld+m:0] ld -> number',
  densifyCodes: 'codes:i32+codesOff[m>0?(H-1)*ld+m:0] ld m H probes:i32[H*16]<H buf:i32[2*H]',
  codeKeys: 'codes:i32+codesOff[m>0?(H-1)*ld+m:0] ld ~H m sel:i32[K*L]<H K L bits rangePow keys:i32+keysOff stride',
  bucketSort: 'keys:i32+keysOff[m] ids:i32?[m] m R S off:i32+offOff[R+1] ent:i32+entOff -> number',
  bucketCommit: 'keys:i32+keysOff[m] m R S reservoir s0 s1 s2 s3 off:i32+offOff[R+1] ent:i32+entOff count:i32[R] stats:i32[3]',
  voteTally: 'entries:i32 bStart:i32[L] bEnd:i32[L] L tally:uint[N] N =tally.BYTES_PER_ELEMENT',
  voteScores: 'tally:uint[N] N lo hi cosv:f64[Math.min(hi,tally.BYTES_PER_ELEMENT===1?256:65536)] rowNorm:f32[N] bias:f32[N] xNorm cand:i32[max] score:f64[max] n max =tally.BYTES_PER_ELEMENT -> number',
  scoreFloor: 'score:f64[n] n cap hist:i32[1024] -> number',
  scoreKeep: 'ids:i32[n] score:f64[n] from n floor -> number',
  scoreSplit: 'ids:i32[n] score:f64[n] n cap hist:i32[1024] out:i32[cap] tmpIds:i32[n] tmpScore:f64[n] -> number',
  voteCollect: 'tally:uint[N] N lo hi hist:i32[hi] cand:i32 n max =tally.BYTES_PER_ELEMENT -> number',
  votePlace: 'cand:i32[nc]<tally.length nc tally:uint hist:i32 vt above need out:i32 outVotes:i32? =tally.BYTES_PER_ELEMENT',
  rowsBackward:
    'W:f32 G:f32 gBias:f32 n rows:i32+rowsOff[nRows]<Math.min(rowsOf(W,n),rowsOf(G,n),gBias.length) nRows grad:f32+gradOff[nRows] x:f32+xOff[n] dx:f32?+dxOff',
  rowsDx: 'W:f32 n rows:i32+rowsOff[nRows]<rowsOf(W,n) nRows grad:f32+gradOff[nRows] dx:f32+dxOff[n]',
  gradRows: 'G:f32 gBias:f32? n rows:i32+rowsOff[nRows]<rowsOf(G,n) nRows ptr:i32@rowsOff[nRows+1] src:i32 coef:f32 X:f32',
  gradRowsDense: 'G:f32 gBias:f32 n rows:i32+rowsOff[nRows]<Math.min(rowsOf(G,n),gBias.length,stride) nRows coef:f32 stride used:i32[nUsed]<rowsOf(coef,stride) nUsed X:f32',
  sparseInputForward: 'W:f32 bias:f32[nOut] nOut idx:i32@start[end-start]<rowsOf(W,nOut) val:f32@start[end-start] ~start ~end =end-start out:f32+outOff[nOut]',
  sparseInputBackward: 'G:f32 gBias:f32[nOut] nOut idx:i32@start[end-start]<rowsOf(G,nOut) val:f32@start[end-start] ~start ~end =end-start delta:f32+deltaOff[nOut]',
  adamRows: 'W:f32 M:f32 V:f32 G:f32 n rows:i32+rowsOff[nRows]<Math.min(rowsOf(W,n),rowsOf(M,n),rowsOf(V,n),rowsOf(G,n)) nRows lrT b1 =1-b1 b2 =1-b2 eps decay=1',
  markedRows: 'mark:i32[n] n out:i32[n] -> number',
  selectPairs: 'pRow:i32[slots*budget] pCnt:i32[slots] slots budget r0 r1 list:i32[slots*budget] slotEnd:i32[slots] -> number',
  countPairs: 'pRow:i32 list:i32[m]<pRow.length m mark:i32',
  listCounted: 'mark:i32[r1] r0 r1 touched:i32[r1] ptr:i32[r1+1] base -> number',
  placePairs: 'mark:i32 pRow:i32 pCoef:f32[pRow.length] list:i32 slotEnd:i32[slots] slots src:i32 coef:f32',
  markPairs: 'pRow:i32[slots*budget] pCnt:i32[slots] slots budget mark:i32 touched:i32 n -> number',
  groupPairs: 'touched:i32[nTouched]<pos.length nTouched pos:i32 ptr:i32[nTouched+1] pRow:i32[slots*budget] pCoef:f32[slots*budget] pCnt:i32[slots] slots budget src:i32 coef:f32 -> number',
  adamRowsPairs:
    'W:f32 M:f32 V:f32 gBias:f32? n rows:i32+rowsOff[nRows]<Math.min(rowsOf(W,n),rowsOf(M,n),rowsOf(V,n)) nRows ptr:i32@rowsOff[nRows+1] src:i32 coef:f32 X:f32 lrT b1 =1-b1 b2 =1-b2 eps decay=1',
  sgdRows: 'W:f32 G:f32 n rows:i32+rowsOff[nRows]<Math.min(rowsOf(W,n),rowsOf(G,n)) nRows lr decay=1',
  relu: 'x:f32+off[n] n',
  softmax: 'x:f32+off[n] n logZ:js',
};

/**
 * Kernels whose wrapper calls more than one export, with those exports; the wrapper itself is
 * written in wasm.ts (its line above still produces the checks).
 */
export const COMPOSITE_EXPORTS: Readonly<Record<string, readonly string[]>> = {
  // the maximum, then exponentials and their float64 sum; the log of the sum is taken in
  // JavaScript (the module has no table-driven log, see assembly/kernels.ts)
  softmax: ['vmax', 'softmaxExp'],
};
