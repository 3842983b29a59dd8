const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote a value for a POSIX shell so it reaches the command as one literal word. */
export function shellQuote(value: string): string {
  if (value !== '' && SAFE.test(value)) return value;
  return `'${value.replace(/'/g, `'"'"'`)}'`;
}

export function shellJoin(words: string[]): string {
  return words.map(shellQuote).join(' ');
}
