export async function runExplain(_args: string[]): Promise<number> {
  console.error("patchcord explain: not yet");
  return 2;
}
