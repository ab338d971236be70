/** Walks argv, handing each word to `on`; `value()` takes the next word as the option's argument. */
export function eachArg(args: string[], on: (arg: string, value: () => string) => void): void {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    on(a, () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    });
  }
}
