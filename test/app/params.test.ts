import { describe, expect, it } from 'vitest';
import { bindArguments, parameterNames } from '../../src/app/params.js';

describe('parameter names for keyword arguments', () => {
  it('reads names from arrows, functions, defaults and rest parameters', () => {
    expect(parameterNames((x: number, y: number) => x + y)).toEqual(['x', 'y']);
    expect(parameterNames(async (a: string, b = 'd') => a + b)).toEqual(['a', 'b']);
    expect(parameterNames(function named(first: number, /* c */ second: { a: number } = { a: 1 }) { return first + second.a; })).toEqual(['first', 'second']);
    expect(parameterNames((...rest: number[]) => rest.length)).toEqual(['rest']);
    expect(parameterNames(() => 1)).toEqual([]);
  });

  it('marks destructured parameters as unnamed', () => {
    expect(parameterNames(({ a }: { a: number }, b: number) => a + b)).toEqual([null, 'b']);
  });

  it('binds kwargs to positions and raises Python-style TypeErrors', () => {
    expect(bindArguments('add', ['x', 'y'], [], { y: 2, x: 1 })).toEqual([1, 2]);
    expect(bindArguments('add', ['x', 'y'], [1], { y: 2 })).toEqual([1, 2]);
    expect(bindArguments('f', ['a', 'b', 'c'], [], { c: 3 })).toEqual([undefined, undefined, 3]);
    expect(() => bindArguments('add', ['x', 'y'], [], { z: 1 })).toThrow("add() got an unexpected keyword argument 'z'");
    expect(() => bindArguments('add', ['x', 'y'], [1], { x: 1 })).toThrow("add() got multiple values for argument 'x'");
  });
});
