// `gitmesh validate PATH...`: the pre-merge (and pre-commit) check.
import { REPORT_FORMATS, type ReportFormat } from "../report.js";
import { parseCommand, UsageError, type Command } from "../usage.js";
import { NAMING_HELP, NAMING_OPTIONS, namingFrom } from "./naming.js";

const synopsis = "gitmesh validate DIR|FILE... [--config DIR] [--strict] [--format text|json|github] [options]";

export const validateCommand: Command = {
  name: "validate",
  summary: "check a config directory: every problem with its file, line and column",
  synopsis,
  help: `usage: ${synopsis}

Checks a mesh config directory as CI would (docs/config.md): every problem with its file, line,
column, code and the fix. Exit 0 when there are no errors (warnings pass), 1 when there are.
Directories and files given together are the whole config.

  --config DIR               the config directory: the files given are checked within all of it
                             (what a pre-commit hook passes), and only their problems are shown
  --strict                   warnings are errors too
  --format text|json|github  one line per problem; github annotates the pull request, with paths
                             relative to the git repository's root (default text)
  --follow-external-links    follow symbolic links that lead outside DIR (off: such a link is an
                             error, GM0006)
${NAMING_HELP}`,
  async run(args, io) {
    const { values, positionals } = parseCommand(args, {
      format: { type: "string", default: "text" },
      config: { type: "string" },
      strict: { type: "boolean" },
      "follow-external-links": { type: "boolean" },
      ...NAMING_OPTIONS,
    });
    const format = values.format as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${REPORT_FORMATS.join(", ")}`);
    if (positionals.length === 0 && values.config === undefined) throw new UsageError("validate takes a config directory, or files");
    // Commands load their modules when run: validate in CI should not pay for gRPC and metrics.
    const { validate } = await import("../validate.js");
    return validate({
      paths: positionals,
      ...(values.config === undefined ? {} : { config: values.config }),
      format,
      strict: values.strict === true,
      naming: namingFrom(values),
      followExternalLinks: values["follow-external-links"] === true,
      out: io.out,
    });
  },
};
