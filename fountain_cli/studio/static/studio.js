// The studio page: the working schema as a list of tables (names editable without losing a row),
// sent to the server as schema.json after each edit; the server's checks and previews shown.

const CHECK_DELAY_MS = 300;
const NUMERIC = new Set(["smallint", "integer", "bigint", "serial", "bigserial", "numeric", "real", "double"]);
const NOW_TYPES = new Set(["timestamp", "timestamptz", "timestamp_without_time_zone", "date"]);

let tables = []; // [{name, extra: {...other entity keys}, fields: [{name, spec}]}]
let description = undefined;
let fieldTypes = [];
let preview = "openapi";
let checkTimer = null;
let checking = Promise.resolve([]);
let valid = false;
let unsaved = false; // edits since the last save: leaving the page asks first

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== undefined) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function fromDocument(doc) {
  description = doc.description;
  tables = Object.entries(doc.entities || {}).map(([name, entity]) => {
    const { fields, ...extra } = entity;
    return { name, extra, fields: Object.entries(fields || {}).map(([n, spec]) => ({ name: n, spec })) };
  });
}

function toDocument() {
  const entities = {};
  for (const table of tables) {
    const fields = {};
    for (const field of table.fields) fields[field.name] = field.spec;
    entities[table.name] = { ...table.extra, fields };
  }
  return description === undefined ? { entities } : { description, entities };
}

// Two tables (or fields) of one name would merge in the JSON object: said here, before sending.
function duplicateNames() {
  const found = [];
  const twice = (names, what) => {
    const seen = new Set();
    for (const name of names) {
      if (seen.has(name)) found.push(`${what} ${JSON.stringify(name)} is named twice`);
      seen.add(name);
    }
  };
  twice(tables.map((t) => t.name), "table");
  for (const table of tables) twice(table.fields.map((f) => f.name), `table ${table.name}: field`);
  return found;
}

async function call(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  return { ok: response.ok, data };
}

function showProblems(problems) {
  valid = problems.length === 0;
  const box = $("problems");
  box.replaceChildren(
    valid
      ? el("p", { class: "ok" }, "No problems: this schema can be saved and scaffolded.")
      : el("ul", {}, ...problems.map((p) => el("li", {}, p))),
  );
}

// After an edit: the server holds the new working schema, answers its problems, and the preview follows.
function edited() {
  unsaved = true;
  forgetMigration();
  if (preview === "er") drawDiagram();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, CHECK_DELAY_MS);
}

function check() {
  clearTimeout(checkTimer);
  checkTimer = null;
  const local = duplicateNames();
  const doc = toDocument();
  // One check after the other, so the server's working schema is always the latest edit.
  checking = checking.catch(() => []).then(async () => {
    if (local.length) {
      showProblems(local);
      return local;
    }
    let answer;
    try {
      answer = await call("PUT", "/api/schema", doc);
    } catch (error) {
      const problems = [`The studio server did not answer (${error.message}); is \`fountain studio\` still running?`];
      showProblems(problems);
      return problems;
    }
    const { ok, data } = answer;
    const problems = ok ? data.problems : data.problems || [String(data.detail || data)];
    showProblems(problems);
    await showPreview();
    return problems;
  });
  return checking;
}

async function settled() {
  if (checkTimer !== null) return check();
  return checking;
}

// Each preview asked for supersedes the ones before: an older answer arriving late is dropped.
let previewAsked = 0;

async function showPreview() {
  const asked = ++previewAsked;
  const service = encodeURIComponent($("service-name").value.trim() || "new_service");
  const dialect = encodeURIComponent($("dialect").value || "postgresql");
  $("dialect-row").hidden = preview !== "ddl";
  $("er-note").hidden = preview !== "er";
  $("er-drawing").hidden = preview !== "er";
  if (preview === "er") drawDiagram();
  for (const kind of ["openapi", "ddl", "er"]) {
    const tab = $(`tab-${kind}`);
    tab.setAttribute("aria-selected", String(kind === preview));
    tab.tabIndex = kind === preview ? 0 : -1;
  }
  if (!valid) {
    $("preview").textContent = "The preview follows once the problems listed are fixed.";
    return;
  }
  const query = preview === "ddl" ? `?service=${service}&dialect=${dialect}` : `?service=${service}`;
  const { ok, data } = await call("GET", `/api/preview/${preview}${query}`);
  if (asked !== previewAsked) return;
  $("preview").textContent = ok ? data : (data.problems || [data.detail]).join("\n");
}

// --- the ER diagram, drawn --------------------------------------------------------------------------
// A box per table with its fields (PK, FK, UK marked), a line per reference with the cardinality marks
// `fountain export-docs` gives: the parent side || when the field is required, |o when it may be empty;
// the child side o| when the field is unique by itself (one child at most), o{ (many) otherwise.

const SVG = "http://www.w3.org/2000/svg";
const ER = { row: 18, char: 7.3, pad: 8, gapX: 90, gapY: 28, margin: 16 };

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

function fieldKeys(table, field) {
  const keys = [];
  if (field.spec.primaryKey) keys.push("PK");
  if (field.spec.references) keys.push("FK");
  const grouped = (table.extra.unique || []).some((group) => Array.isArray(group) && group.includes(field.name));
  if (field.spec.unique || grouped) keys.push("UK");
  return keys;
}

// Whether a field alone is unique: its own flag, a one-field unique group, or the whole primary key.
function uniqueAlone(table, field) {
  if (field.spec.unique) return true;
  if ((table.extra.unique || []).some((g) => Array.isArray(g) && g.length === 1 && g[0] === field.name)) return true;
  const keys = table.fields.filter((f) => f.spec.primaryKey);
  return keys.length === 1 && keys[0] === field;
}

function relations() {
  const found = [];
  for (const table of tables)
    for (const field of table.fields) {
      const parent = tables.find((t) => t.name === field.spec.references);
      if (!parent) continue;
      found.push({
        parent, child: table, field,
        parentMark: field.spec.required || field.spec.primaryKey ? "||" : "|o",
        childMark: uniqueAlone(table, field) ? "o|" : "o{",
      });
    }
  return found;
}

// Layers: a table right of every table it references (a cycle is cut where it closes).
function layers() {
  const level = new Map();
  const visit = (table, path) => {
    if (level.has(table)) return level.get(table);
    if (path.has(table)) return 0;
    path.add(table);
    let deepest = -1;
    for (const field of table.fields) {
      const parent = tables.find((t) => t.name === field.spec.references);
      if (parent && parent !== table) deepest = Math.max(deepest, visit(parent, path));
    }
    path.delete(table);
    level.set(table, deepest + 1);
    return deepest + 1;
  };
  for (const table of tables) visit(table, new Set());
  return level;
}

function endMark(kind, x, y, d) {
  // d: +1 when the line leaves the box to the right, -1 to the left.
  const bar = (at) => svg("line", { class: "mark", x1: x + d * at, y1: y - 6, x2: x + d * at, y2: y + 6 });
  const ring = (at) => svg("circle", { class: "mark", cx: x + d * at, cy: y, r: 4 });
  const crow = () => svg("path", { class: "mark", d: `M${x} ${y - 7} L${x + d * 10} ${y} L${x} ${y + 7}`, fill: "none" });
  const parts = { "||": [bar(5), bar(10)], "|o": [bar(5), ring(15)], "o|": [bar(8), ring(16)], "o{": [crow(), ring(16)] }[kind];
  return svg("g", { class: "end", "data-mark": kind }, ...parts);
}

function drawDiagram() {
  const box = $("er-drawing");
  if (!tables.length) {
    box.replaceChildren(el("p", {}, "No tables yet."));
    return;
  }
  const level = layers();
  const columns = [];
  for (const table of tables) (columns[level.get(table)] ||= []).push(table);
  const place = new Map();
  let x = ER.margin;
  let height = 0;
  for (const column of columns.filter(Boolean)) {
    let y = ER.margin;
    const lines = column.map((t) => [t.name, ...t.fields.map((f) => `${f.name} ${f.spec.type || ""} ${fieldKeys(t, f).join(",")}`)]);
    const width = Math.max(...lines.flat().map((l) => l.length)) * ER.char + 2 * ER.pad;
    for (const table of column) {
      const h = ER.row * (table.fields.length + 1) + ER.pad;
      place.set(table, { x, y, width, height: h });
      y += h + ER.gapY;
    }
    height = Math.max(height, y);
    x += width + ER.gapX;
  }
  const drawing = svg("svg", { id: "er-svg", role: "img", "aria-labelledby": "er-title", width: x, height: height + ER.margin });
  drawing.append(svg("title", { id: "er-title" }, `ER diagram: ${tables.length} table(s), ${relations().length} relation(s)`));
  for (const table of tables) {
    const at = place.get(table);
    const group = svg("g", { class: "entity", "data-table": table.name },
      svg("rect", { class: "box", x: at.x, y: at.y, width: at.width, height: at.height, rx: 3 }),
      svg("rect", { class: "head", x: at.x, y: at.y, width: at.width, height: ER.row + 2, rx: 3 }),
      svg("text", { class: "head-text", x: at.x + ER.pad, y: at.y + ER.row - 4 }, table.name));
    table.fields.forEach((field, i) => {
      const y = at.y + ER.row * (i + 2) - 4;
      const keys = fieldKeys(table, field);
      group.append(svg("text", { class: "field", "data-field": field.name, x: at.x + ER.pad, y },
        svg("tspan", {}, `${field.name} `),
        svg("tspan", { fill: "#555" }, `${field.spec.type || "?"}${field.spec.required || field.spec.primaryKey ? "" : "?"}`),
        ...(keys.length ? [svg("tspan", { class: "key" }, ` ${keys.join(",")}`)] : [])));
    });
    drawing.append(group);
  }
  for (const relation of relations()) {
    const p = place.get(relation.parent);
    const c = place.get(relation.child);
    const row = relation.child.fields.indexOf(relation.field);
    const cy = c.y + ER.row * (row + 1.5);
    const keyRow = Math.max(0, relation.parent.fields.findIndex((f) => f.spec.primaryKey));
    const py = p.y + ER.row * (keyRow + 1.5);
    let path, ends;
    if (p.x + p.width < c.x) {
      const [x1, x2] = [p.x + p.width, c.x];
      path = `M${x1} ${py} C${x1 + 40} ${py} ${x2 - 40} ${cy} ${x2} ${cy}`;
      ends = [endMark(relation.parentMark, x1, py, 1), endMark(relation.childMark, x2, cy, -1)];
    } else if (c.x + c.width < p.x) {
      const [x1, x2] = [p.x, c.x + c.width];
      path = `M${x1} ${py} C${x1 - 40} ${py} ${x2 + 40} ${cy} ${x2} ${cy}`;
      ends = [endMark(relation.parentMark, x1, py, -1), endMark(relation.childMark, x2, cy, 1)];
    } else {
      // The same column (a table referencing itself, or a cycle): a loop out to the right.
      const [x1, x2] = [p.x + p.width, c.x + c.width];
      const reach = Math.max(x1, x2) + 45;
      path = `M${x1} ${py} C${reach} ${py} ${reach} ${cy} ${x2} ${cy}`;
      ends = [endMark(relation.parentMark, x1, py, 1), endMark(relation.childMark, x2, cy, 1)];
    }
    drawing.append(svg("g", {
      class: "relation-group", "data-parent": relation.parent.name, "data-child": relation.child.name,
      "data-field": relation.field.name, "data-cardinality": `${relation.parentMark}--${relation.childMark}`,
    }, svg("title", {}, `${relation.parent.name} ${relation.parentMark}--${relation.childMark} ${relation.child.name} : ${relation.field.name}`),
    svg("path", { class: "relation", d: path }), ...ends));
  }
  box.replaceChildren(drawing);
}

// --- editing --------------------------------------------------------------------------------------

function defaultValue(type, text) {
  if (type === "boolean" && (text === "true" || text === "false")) return text === "true";
  if (NUMERIC.has(type) && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  return text;
}

function setDefault(field, text) {
  delete field.spec.default;
  delete field.spec.defaultNow;
  if (text === "") return;
  if (NOW_TYPES.has(field.spec.type) && text.toLowerCase() === "now") field.spec.defaultNow = true;
  else field.spec.default = defaultValue(field.spec.type, text);
}

function defaultText(spec) {
  if (spec.defaultNow) return "now";
  return spec.default === undefined ? "" : String(spec.default);
}

function flag(spec, key, on) {
  if (on) spec[key] = true;
  else delete spec[key];
}

// What a type needs beside its name: an enum's labels, a string's length.
function detailCell(table, id, field) {
  const spec = field.spec;
  const where = `${table.name}.${field.name}`;
  if (spec.type === "enum")
    return el("td", {}, el("input", {
      type: "text", id: `${id}-values`, value: (spec.values || []).join(", "), placeholder: "a, b, c",
      "aria-label": `Enum values, separated by commas (${where})`,
      oninput: (e) => {
        const values = e.target.value.split(",").map((v) => v.trim()).filter(Boolean);
        if (values.length) spec.values = values;
        else delete spec.values;
        edited();
      },
    }));
  if (spec.type === "string" || spec.type === "char")
    return el("td", {}, el("input", {
      type: "text", inputmode: "numeric", id: `${id}-length`, value: spec.maxLength ?? "",
      "aria-label": `Maximum length (${where})`,
      oninput: (e) => {
        const text = e.target.value.trim();
        if (text === "") delete spec.maxLength;
        else spec.maxLength = /^\d+$/.test(text) ? Number(text) : text;
        edited();
      },
    }));
  if (spec.type === "numeric") {
    // numeric(precision, scale): both left empty is any number; a scale needs a precision.
    const number = (key, label) => el("input", {
      type: "text", inputmode: "numeric", id: `${id}-${key}`, value: spec[key] ?? "", class: "narrow",
      "aria-label": `${label} (${where})`, placeholder: key === "precision" ? "p" : "s",
      oninput: (e) => {
        const text = e.target.value.trim();
        if (text === "") delete spec[key];
        else spec[key] = /^\d+$/.test(text) ? Number(text) : text;
        edited();
      },
    });
    return el("td", { class: "numeric" }, number("precision", "Precision"), number("scale", "Scale"));
  }
  return el("td", {});
}

function setType(spec, type) {
  spec.type = type;
  if (type !== "enum") delete spec.values;
  if (type !== "string" && type !== "char") delete spec.maxLength;
  if (type !== "numeric") {
    delete spec.precision;
    delete spec.scale;
  }
}

function renameTable(table, name) {
  for (const other of tables)
    for (const field of other.fields) if (field.spec.references === table.name) field.spec.references = name;
  table.name = name;
}

function renameField(table, field, name) {
  if (Array.isArray(table.extra.unique))
    table.extra.unique = table.extra.unique.map((group) => group.map((n) => (n === field.name ? name : n)));
  field.name = name;
}

// A field removed takes the groups unique together it is in with it, as PostgreSQL drops them with
// the column (a smaller group would be a stricter rule, not the same one).
function removeField(table, f) {
  const [field] = table.fields.splice(f, 1);
  if (!Array.isArray(table.extra.unique)) return;
  const groups = table.extra.unique.filter((g) => !(Array.isArray(g) && g.includes(field.name)));
  if (groups.length) table.extra.unique = groups;
  else delete table.extra.unique;
}

function fieldRow(table, t, field, f) {
  const id = `t${t}-f${f}`;
  const spec = field.spec;
  const changed = () => {
    edited();
    rerender();
  };
  const box = (key, label) =>
    el("td", {}, el("input", {
      type: "checkbox", id: `${id}-${key}`, "aria-label": `${label} (${table.name}.${field.name})`,
      checked: Boolean(spec[key]),
      onchange: (e) => { flag(spec, key, e.target.checked); changed(); },
    }));
  const references = el("select", {
    id: `${id}-references`, "aria-label": `References (${table.name}.${field.name})`,
    onchange: (e) => {
      if (e.target.value) spec.references = e.target.value;
      else for (const key of ["references", "onDelete", "onUpdate", "deferrable"]) delete spec[key];
      changed();
    },
  }, el("option", { value: "" }, "—"), ...tables.map((other) =>
    el("option", { value: other.name, selected: spec.references === other.name }, other.name)));
  return el("tr", {},
    el("td", {}, el("input", {
      type: "text", id: `${id}-name`, value: field.name, "aria-label": `Field name (${table.name}.${field.name})`,
      oninput: (e) => { renameField(table, field, e.target.value); edited(); },
      onchange: rerender,
    })),
    el("td", {}, el("select", {
      id: `${id}-type`, "aria-label": `Type (${table.name}.${field.name})`,
      onchange: (e) => { setType(spec, e.target.value); changed(); },
    }, ...fieldTypes.map((type) => el("option", { value: type, selected: spec.type === type }, type)))),
    detailCell(table, id, field),
    el("td", {}, el("input", {
      type: "checkbox", id: `${id}-nullable`, "aria-label": `Nullable (${table.name}.${field.name})`,
      checked: !spec.required && !spec.primaryKey, disabled: Boolean(spec.primaryKey),
      onchange: (e) => { flag(spec, "required", !e.target.checked); changed(); },
    })),
    el("td", {}, el("input", {
      type: "text", id: `${id}-default`, value: defaultText(spec), "aria-label": `Default (${table.name}.${field.name})`,
      oninput: (e) => { setDefault(field, e.target.value); edited(); },
    })),
    box("primaryKey", "Primary key"),
    box("unique", "Unique"),
    el("td", {}, references),
    el("td", {}, el("button", {
      type: "button", id: `${id}-remove`, onclick: () => { removeField(table, f); changed(); },
    }, "Remove", el("span", { class: "visually-hidden" }, ` field ${field.name}`))),
  );
}

function tableCard(table, t) {
  const id = `t${t}`;
  const addField = el("form", {
    class: "add-field",
    onsubmit: (e) => {
      e.preventDefault();
      const name = $(`${id}-new-field`).value.trim();
      if (!name) return;
      table.fields.push({ name, spec: { type: $(`${id}-new-type`).value } });
      edited();
      rerender(`${id}-new-field`);
    },
  },
    el("label", { for: `${id}-new-field` }, "New field "),
    el("input", { type: "text", id: `${id}-new-field`, autocomplete: "off" }),
    el("label", { for: `${id}-new-type` }, " type "),
    el("select", { id: `${id}-new-type` },
      ...fieldTypes.map((type) => el("option", { value: type, selected: type === "text" }, type))),
    " ",
    el("button", { type: "submit", id: `${id}-add-field` }, "Add field",
      el("span", { class: "visually-hidden" }, ` to ${table.name}`)),
  );
  return el("div", { class: "table", role: "group", "aria-labelledby": `${id}-heading` },
    el("div", { class: "table-head" },
      el("h3", { id: `${id}-heading` }, `Table ${table.name}`),
      el("label", { for: `${id}-name` }, "Name"),
      el("input", {
        type: "text", id: `${id}-name`, value: table.name,
        oninput: (e) => { renameTable(table, e.target.value); edited(); },
        onchange: rerender,
      }),
      el("button", {
        type: "button", id: `${id}-remove`,
        onclick: () => { tables.splice(t, 1); edited(); rerender("new-table-name"); },
      }, "Remove table", el("span", { class: "visually-hidden" }, ` ${table.name}`)),
    ),
    el("table", { class: "fields" },
      el("thead", {}, el("tr", {}, ...["Field", "Type", "Values / length / precision", "Nullable", "Default", "Primary key", "Unique", "References", ""]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...table.fields.map((field, f) => fieldRow(table, t, field, f))),
    ),
    addField,
    uniqueTogether(table, id),
    checkList(table, id),
  );
}

// CHECK constraints (schema.json's "checks": [{sql, name?}, ...]): each condition and its name edited
// in place, removed, or added; the server reports a condition it cannot read as it is typed.
function checkList(table, id) {
  const checks = Array.isArray(table.extra.checks) ? table.extra.checks : [];
  const setChecks = (next) => {
    if (next.length) table.extra.checks = next;
    else delete table.extra.checks;
    edited();
  };
  const row = (check, c) => el("li", {},
    el("span", { "aria-hidden": "true" }, "CHECK "),
    el("input", {
      type: "text", id: `${id}-check-${c}-sql`, value: check.sql || "", class: "check-sql",
      "aria-label": `Check condition ${c + 1} (${table.name})`,
      oninput: (e) => { check.sql = e.target.value; edited(); },
    }),
    el("span", { "aria-hidden": "true" }, " name "),
    el("input", {
      type: "text", id: `${id}-check-${c}-name`, value: check.name || "", placeholder: "(PostgreSQL's)",
      "aria-label": `Check name ${c + 1} (${table.name})`,
      oninput: (e) => {
        if (e.target.value.trim()) check.name = e.target.value.trim();
        else delete check.name;
        edited();
      },
    }),
    " ",
    el("button", {
      type: "button", id: `${id}-check-${c}-remove`,
      onclick: () => { setChecks(checks.filter((_, i) => i !== c)); rerender(`${id}-check-new`); },
    }, "Remove", el("span", { class: "visually-hidden" }, ` check ${c + 1} of ${table.name}`)));
  return el("div", { class: "checks" },
    checks.length ? el("ul", { id: `${id}-checks`, "aria-label": `Checks (${table.name})` }, ...checks.map(row)) : "",
    el("form", {
      class: "add-check",
      onsubmit: (e) => {
        e.preventDefault();
        const sql = $(`${id}-check-new`).value.trim();
        if (!sql) return;
        setChecks([...checks, { sql }]);
        rerender(`${id}-check-new`);
      },
    },
      el("label", { for: `${id}-check-new` }, "New check "),
      el("input", { type: "text", id: `${id}-check-new`, autocomplete: "off", placeholder: "price >= 0" }),
      " ",
      el("button", { type: "submit", id: `${id}-check-add` }, "Add check",
        el("span", { class: "visually-hidden" }, ` to ${table.name}`)),
    ),
  );
}

// Fields unique together (schema.json's "unique": [[...], ...]): listed, removed, added by names.
function uniqueTogether(table, id) {
  const groups = Array.isArray(table.extra.unique) ? table.extra.unique : [];
  const setGroups = (next) => {
    if (next.length) table.extra.unique = next;
    else delete table.extra.unique;
    edited();
  };
  return el("div", { class: "unique-together" },
    groups.length
      ? el("ul", { id: `${id}-uniques`, "aria-label": `Fields unique together (${table.name})` },
        ...groups.map((group, g) => el("li", {}, `unique (${(Array.isArray(group) ? group : []).join(", ")}) `,
          el("button", {
            type: "button", id: `${id}-unique-${g}-remove`,
            onclick: () => { setGroups(groups.filter((_, i) => i !== g)); rerender(`${id}-unique-new`); },
          }, "Remove", el("span", { class: "visually-hidden" }, ` unique (${group.join(", ")}) of ${table.name}`)))))
      : "",
    el("form", {
      class: "add-unique",
      onsubmit: (e) => {
        e.preventDefault();
        const names = $(`${id}-unique-new`).value.split(",").map((n) => n.trim()).filter(Boolean);
        if (!names.length) return;
        setGroups([...groups, names]);
        rerender(`${id}-unique-new`);
      },
    },
      el("label", { for: `${id}-unique-new` }, "Unique together "),
      el("input", { type: "text", id: `${id}-unique-new`, autocomplete: "off", placeholder: "field_a, field_b" }),
      " ",
      el("button", { type: "submit", id: `${id}-unique-add` }, "Add unique",
        el("span", { class: "visually-hidden" }, ` to ${table.name}`)),
    ),
  );
}

// Rebuilt after the change is done, so the focus has moved on: it is put back where it went.
function rerender(focusId) {
  setTimeout(() => {
    const target = typeof focusId === "string" ? focusId : document.activeElement && document.activeElement.id;
    $("tables").replaceChildren(...tables.map(tableCard));
    if (preview === "er") drawDiagram();
    if (target && $(target)) $(target).focus();
  }, 0);
}

// --- actions --------------------------------------------------------------------------------------

function showResult(ok, lines) {
  const box = $("result");
  box.className = ok ? "done" : "error";
  box.replaceChildren(...lines.map((line) => el("p", {}, line)));
}

async function save() {
  const local = duplicateNames();
  if (local.length) return showResult(false, ["Nothing was written.", ...local]);
  await settled();
  const { ok, data } = await call("POST", "/api/save");
  if (ok) unsaved = false;
  showResult(ok, ok ? [`Saved ${data.saved}.`] : [data.title, ...(data.problems || [])]);
}

async function scaffold(event) {
  event.preventDefault();
  const local = duplicateNames();
  if (local.length) return showResult(false, ["Nothing was written.", ...local]);
  await settled();
  const service = $("service-name").value.trim();
  showResult(true, [`Scaffolding ${service}…`]);
  const { ok, data } = await call("POST", "/api/scaffold", { service });
  showResult(ok, ok
    ? [`Service ${data.service} created: tables ${data.tables.join(", ")}; host ${data.host}, local port ${data.port}.`,
       `Next: ${data.next}`]
    : [data.title, ...(data.problems || [])]);
}

// The migration of an opened service: previewed, then written as previewed; a drop needs the box ticked.
let migrationPlan = null;

function forgetMigration() {
  if (migrationPlan === null) return;
  migrationPlan = null;
  $("migration-write").disabled = true;
  $("confirm-row").hidden = true;
  $("migration-script").hidden = true;
  $("migration").replaceChildren(el("p", {}, "The schema changed since the preview: preview the migration again."));
}

function showMigration(lines, script) {
  $("migration").replaceChildren(...lines);
  $("migration-script").hidden = script === undefined;
  $("migration-script").textContent = script || "";
}

async function previewMigration() {
  await settled();
  forgetMigration();
  showMigration([el("p", {}, "Comparing the service's tables with this schema…")]);
  const { ok, data } = await call("POST", "/api/migration/preview", {});
  if (!ok) {
    return showMigration([el("p", { class: "error" }, data.title || "No migration"),
      el("ul", { class: "error" }, ...(data.problems || [String(data)]).map((p) => el("li", {}, p)))]);
  }
  migrationPlan = data;
  const lines = [el("p", {}, `${data.file} (revision ${data.revision}):`),
    el("ul", { id: "migration-steps" }, ...data.steps.map((step) => el("li", {}, step)))];
  if (data.drops.length)
    lines.push(el("p", { class: "drops" }, `It loses data in ${data.drops.length} step(s):`),
      el("ul", { id: "migration-drops", class: "drops" }, ...data.drops.map((d) => el("li", {}, d))));
  showMigration(lines, data.script);
  $("confirm-drops").checked = false;
  $("confirm-row").hidden = data.drops.length === 0;
  $("migration-write").disabled = data.drops.length > 0;
}

async function writeMigration() {
  if (migrationPlan === null) return;
  const confirm = migrationPlan.drops.length > 0 && $("confirm-drops").checked;
  $("migration-write").disabled = true;
  showMigration([el("p", {}, "Writing the migration…")], migrationPlan.script);
  const { ok, data } = await call("POST", "/api/migration/write", { confirm_drops: confirm });
  if (!ok) {
    $("migration-write").disabled = false;
    return showMigration([el("p", { class: "error" }, data.title || "Nothing was written"),
      el("ul", { class: "error" }, ...(data.problems || [String(data)]).map((p) => el("li", {}, p)))], migrationPlan.script);
  }
  unsaved = false;
  migrationPlan = null;
  $("confirm-row").hidden = true;
  showMigration([el("p", { class: "done" }, `Written ${data.file}; the schema, spec, tables and tests follow it.`),
    el("p", { class: "done" }, `Next: ${data.next}`)], data.script);
}

// The AI assist: a proposal is shown, never applied, until Accept makes it an edit like any other.
let proposed = null;

function showProposal(lines, actions = []) {
  $("proposal").replaceChildren(...lines, ...(actions.length ? [el("p", {}, ...actions)] : []));
}

async function assist(event) {
  event.preventDefault();
  const instruction = $("instruction").value.trim();
  if (!instruction) return;
  await settled();
  proposed = null;
  showProposal([el("p", {}, "Asking the model…")]);
  const { ok, data } = await call("POST", "/api/assist", { instruction });
  if (!ok) {
    return showProposal([el("p", { class: "error" }, data.title || "The assist failed"),
      el("ul", { class: "error" }, ...(data.problems || [String(data)]).map((p) => el("li", {}, p)))]);
  }
  proposed = data.proposal;
  const changes = data.changes.length ? data.changes : ["no change"];
  const lines = [el("p", {}, "Proposed change:"), el("ul", { id: "proposal-changes" }, ...changes.map((c) => el("li", {}, c)))];
  if (data.problems.length) {
    lines.push(el("p", { class: "error" }, "It cannot be accepted; the scaffold reports:"),
      el("ul", { class: "error" }, ...data.problems.map((p) => el("li", {}, p))));
  }
  const reject = el("button", { type: "button", onclick: () => { proposed = null; showProposal([el("p", {}, "Proposal rejected; nothing changed.")]); } }, "Reject");
  const accept = el("button", { type: "button", disabled: data.problems.length > 0, onclick: acceptProposal }, "Accept");
  showProposal(lines, [accept, " ", reject]);
  (data.problems.length ? reject : accept).focus();
}

function acceptProposal() {
  if (proposed === null) return;
  fromDocument(proposed);
  proposed = null;
  $("instruction").value = "";
  showProposal([el("p", {}, "Proposal accepted.")]);
  edited();
  rerender("instruction");
}

async function start() {
  const { data } = await call("GET", "/api/schema");
  fieldTypes = data.fieldTypes;
  $("dialect").replaceChildren(...data.dialects.map((d) => el("option", { value: d }, d)));
  $("file").textContent = (data.opened ? `Opened ${data.opened}; ` : "New schema; ") + `Save writes ${data.saveTo}`;
  // An existing service's schema: previews under its name; scaffolding it again is refused as taken.
  if (data.service) {
    $("file").textContent = `Service ${data.service}: ` + $("file").textContent;
    $("service-name").value = data.service;
  }
  if (data.leftOut.length)
    $("left-out").replaceChildren(el("p", {}, "Left out of the input (schema.json cannot say it):"),
      el("ul", {}, ...data.leftOut.map((line) => el("li", {}, line))));
  fromDocument(data.document);
  rerender();
  showProblems(data.problems);

  $("add-table").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("new-table-name").value.trim();
    if (!name) return;
    tables.push({ name, extra: {}, fields: [] });
    $("new-table-name").value = "";
    edited();
    rerender(`t${tables.length - 1}-new-field`);
  });
  const reported = (action) => (event) =>
    action(event).catch((error) => showResult(false, [`The studio server did not answer (${error.message}).`]));
  $("save").addEventListener("click", reported(save));
  window.addEventListener("beforeunload", (e) => {
    if (unsaved) e.preventDefault();
  });
  $("scaffold").addEventListener("submit", (event) => {
    event.preventDefault();
    reported(scaffold)(event);
  });
  $("assist").addEventListener("submit", (event) => {
    event.preventDefault();
    assist(event).catch((error) => showProposal([el("p", { class: "error" }, `The studio server did not answer (${error.message}).`)]));
  });
  $("instruction").addEventListener("keydown", (e) => {
    // Enter asks, as in the other forms; Shift+Enter starts a new line.
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("assist").requestSubmit(); }
  });
  // Shown once it answers: typed into before, Enter would only start a new line.
  $("assist-section").hidden = !data.assist;
  $("migration-section").hidden = !data.service;
  const migrationFailed = (error) => showMigration([el("p", { class: "error" }, `The studio server did not answer (${error.message}).`)]);
  $("migration-preview").addEventListener("click", () => previewMigration().catch(migrationFailed));
  $("migration-write").addEventListener("click", () => writeMigration().catch(migrationFailed));
  $("confirm-drops").addEventListener("change", (e) => {
    if (migrationPlan !== null) $("migration-write").disabled = !e.target.checked;
  });
  $("service-name").addEventListener("change", showPreview);
  $("dialect").addEventListener("change", showPreview);
  const kinds = ["openapi", "ddl", "er"];
  for (const kind of kinds) {
    const tab = $(`tab-${kind}`);
    tab.addEventListener("click", () => { preview = kind; showPreview(); });
    tab.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      preview = kinds[(kinds.indexOf(kind) + step + kinds.length) % kinds.length];
      $(`tab-${preview}`).focus();
      showPreview();
    });
  }
  // Last: the controls answer while the first preview is on its way.
  await showPreview();
}

start();
