// The shell blocks of a Markdown page, with the attributes of their info string: a test runs a
// doc's commands as they are written, so the doc and the test cannot drift apart.
//   ```sh on=HOST [run=background] [id=NAME] [expect=fail]
// Renderers show only the language; the attributes say where and how a block runs.

export interface DocBlock {
  /** The host it runs on ("both": every host). */
  readonly on: string;
  readonly background: boolean;
  readonly id?: string;
  /** It must fail (exit non-zero). */
  readonly expectFail: boolean;
  readonly text: string;
  /** 1-based line of the opening fence, for messages. */
  readonly line: number;
}

export function shellBlocks(markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```sh\s+(.*)$/.exec(lines[i]!);
    if (open === null) continue;
    const attrs = Object.fromEntries(open[1]!.trim().split(/\s+/).map((a) => a.split("=") as [string, string]));
    const end = lines.indexOf("```", i + 1);
    if (end < 0) throw new Error(`line ${i + 1}: a shell block without its closing fence`);
    if (attrs["on"] === undefined) throw new Error(`line ${i + 1}: a shell block without on=HOST`);
    blocks.push({
      on: attrs["on"],
      background: attrs["run"] === "background",
      ...(attrs["id"] === undefined ? {} : { id: attrs["id"] }),
      expectFail: attrs["expect"] === "fail",
      text: lines.slice(i + 1, end).join("\n"),
      line: i + 1,
    });
    i = end;
  }
  return blocks;
}
