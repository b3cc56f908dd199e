// Prints the shapes of the exported interfaces and `as const` objects of a TypeScript
// file as JSON, read with the TypeScript compiler's own checker (inherited members and
// type aliases resolved), for tests/lsp/test_lsp_client_types.py.
//   node ts_shapes.cjs <path/to/typescript> <file.ts>
'use strict';
const ts = require(process.argv[2]);
const file = process.argv[3];
const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, types: [] });
const checker = program.getTypeChecker();
const source = program.getSourceFile(file);

function describe(type, depth) {
  const parts = type.isUnion() ? type.types : [type];
  const nullable = parts.some((t) => t.flags & ts.TypeFlags.Null);
  const rest = parts.filter((t) => !(t.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined)));
  const out = { nullable, type: rest.map((t) => checker.typeToString(t)).join(' | ') };
  if (rest.length && rest.every((t) => t.isStringLiteral())) out.literals = rest.map((t) => t.value).sort();
  // booleans are a union of true | false to the checker
  if (rest.length === 2 && rest.every((t) => t.flags & ts.TypeFlags.BooleanLiteral)) out.type = 'boolean';
  if (rest.length === 1 && depth < 3) {
    let t = rest[0];
    let array = false;
    if (checker.isArrayType(t)) {
      t = checker.getTypeArguments(t)[0];
      array = true;
    }
    // an inline object literal type (not a named interface): describe its members too
    const sym = t.getSymbol();
    if (sym && sym.flags & ts.SymbolFlags.TypeLiteral) {
      out.members = members(t, depth + 1);
      out.array = array;
    }
  }
  return out;
}

function members(type, depth) {
  const out = {};
  for (const sym of checker.getPropertiesOfType(type)) {
    const decl = sym.valueDeclaration ?? sym.declarations?.[0];
    const t = checker.getTypeOfSymbolAtLocation(sym, decl);
    out[sym.name] = { optional: (sym.flags & ts.SymbolFlags.Optional) !== 0, ...describe(t, depth) };
  }
  return out;
}

const interfaces = {};
const constants = {};
for (const stmt of source.statements) {
  const exported = stmt.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  if (!exported) continue;
  if (ts.isInterfaceDeclaration(stmt)) {
    interfaces[stmt.name.text] = members(checker.getTypeAtLocation(stmt.name), 0);
  } else if (ts.isVariableStatement(stmt)) {
    for (const d of stmt.declarationList.declarations) {
      const t = checker.getTypeAtLocation(d.name);
      const values = {};
      for (const sym of checker.getPropertiesOfType(t)) {
        const v = checker.getTypeOfSymbolAtLocation(sym, d);
        if (v.isStringLiteral()) values[sym.name] = v.value;
      }
      constants[d.name.getText(source)] = values;
    }
  }
}
const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
process.stdout.write(JSON.stringify({ interfaces, constants, errors }, null, 1));
