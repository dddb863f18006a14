// node-postgres ships these modules untyped; dbbridge uses them to encode values exactly as `pg` does.
declare module 'pg/lib/utils.js' {
  export function prepareValue(value: unknown): unknown;
}
declare module 'postgres-array' {
  export function parse<T>(source: string, transform?: (value: string | null) => T): T[];
}
