// A tiny, strict well-formedness checker for the SVG the reports write (test support, not a
// general XML parser): one root element; every opened tag closed, in order; self-closing tags;
// attribute values quoted, unique per element, free of '<'; text free of '<' and of any '&' that
// does not start an entity. No comments, CDATA, doctypes or processing instructions are expected
// in these files, so any of them is an error too.

export interface XmlElement {
  name: string;
  /** Attribute values with the entities decoded. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside the element, entities decoded. */
  text: string;
}

const NAME = /[A-Za-z_][A-Za-z0-9_.:-]*/y;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/y;

function decode(raw: string, at: number): string {
  let out = '';
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === '&') {
      ENTITY.lastIndex = i;
      const m = ENTITY.exec(raw);
      if (!m) throw new Error(`bare '&' at offset ${at + i}`);
      const e = m[0];
      out += e === '&amp;' ? '&' : e === '&lt;' ? '<' : e === '&gt;' ? '>' : e === '&quot;' ? '"' : e === '&apos;' ? "'"
        : String.fromCodePoint(e[2] === 'x' ? parseInt(e.slice(3, -1), 16) : parseInt(e.slice(2, -1), 10));
      i += e.length;
    } else {
      out += raw[i];
      i += 1;
    }
  }
  return out;
}

/** Parses `text`, throwing on the first well-formedness error; returns the root element. */
export function parseXml(text: string): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let i = 0;
  const fail = (message: string): never => {
    throw new Error(`${message} at offset ${i}: ${JSON.stringify(text.slice(Math.max(0, i - 30), i + 30))}`);
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt === -1 ? text.length : lt);
    if (chunk.includes('>')) fail("'>' in text");
    const decoded = decode(chunk, i);
    if (stack.length === 0) {
      if (decoded.trim() !== '') fail('text outside the root element');
    } else stack[stack.length - 1]!.text += decoded;
    if (lt === -1) break;
    i = lt + 1;
    if (text[i] === '/') {
      i += 1;
      NAME.lastIndex = i;
      const m = NAME.exec(text) ?? fail('bad closing tag name');
      i += m[0].length;
      while (/\s/.test(text[i] ?? '')) i += 1;
      if (text[i] !== '>') fail("expected '>'");
      i += 1;
      const open = stack.pop() ?? fail(`closing </${m[0]}> with nothing open`);
      if (open.name !== m[0]) fail(`closing </${m[0]}> but <${open.name}> is open`);
      continue;
    }
    NAME.lastIndex = i;
    const m = NAME.exec(text) ?? fail('bad tag name (comments, doctypes and declarations are not expected)');
    i += m[0].length;
    const element: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
    for (;;) {
      const hadSpace = /\s/.test(text[i] ?? '');
      while (/\s/.test(text[i] ?? '')) i += 1;
      if (text[i] === '>' || text.startsWith('/>', i)) break;
      if (!hadSpace) fail('attributes must be separated by whitespace');
      NAME.lastIndex = i;
      const attr = NAME.exec(text) ?? fail('bad attribute name');
      i += attr[0].length;
      if (text[i] !== '=') fail(`attribute ${attr[0]} without '='`);
      i += 1;
      const quote = text[i];
      if (quote !== '"' && quote !== "'") fail(`attribute ${attr[0]} value not quoted`);
      const end = text.indexOf(quote!, i + 1);
      if (end === -1) fail('unterminated attribute value');
      const raw = text.slice(i + 1, end);
      if (raw.includes('<')) fail(`'<' in attribute ${attr[0]}`);
      if (Object.hasOwn(element.attrs, attr[0])) fail(`duplicate attribute ${attr[0]}`);
      element.attrs[attr[0]] = decode(raw, i + 1);
      i = end + 1;
    }
    if (stack.length > 0) stack[stack.length - 1]!.children.push(element);
    else if (root === null) root = element;
    else fail('a second root element');
    if (text[i] === '/') {
      i += 2;
    } else {
      i += 1;
      stack.push(element);
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.map((e) => e.name).join('> <')}>`);
  if (root === null) throw new Error('no root element');
  return root;
}

/** Every element of the tree, depth first, the root included. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}

/** All text under an element, depth first. */
export function textContent(element: XmlElement): string {
  return element.text + element.children.map(textContent).join('');
}
