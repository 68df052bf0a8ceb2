/** The part of compressjs (pure-JS bzip2) that celeriac uses; the package ships no types. */
declare module 'compressjs' {
  interface CompressjsAlgorithm {
    /** Compress a whole input; `level` is the bzip2 block size multiplier 1..9 (default 9). */
    compressFile(input: Uint8Array | number[], output?: undefined, level?: number): Uint8Array;
    decompressFile(input: Uint8Array | number[]): Uint8Array;
  }
  const compressjs: { Bzip2: CompressjsAlgorithm };
  export default compressjs;
}
