/**
 * Evaluates + - * / and parentheses over decimal numbers with a recursive-descent parser: the
 * calculator tool takes text from a model, so it must never reach `eval`.
 */
export function evaluateArithmetic(expression: string): number {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/()]|\S/g) ?? [];
  let position = 0;
  const peek = () => tokens[position];
  const take = () => tokens[position++];

  const primary = (): number => {
    const token = take();
    if (token === "(") {
      const value = sum();
      if (take() !== ")") throw new Error("missing )");
      return value;
    }
    if (token === "-") return -primary();
    if (token !== undefined && /^\d/.test(token)) return Number(token);
    throw new Error(token === undefined ? "unexpected end of expression" : `unexpected '${token}'`);
  };
  const product = (): number => {
    let value = primary();
    while (peek() === "*" || peek() === "/") value = take() === "*" ? value * primary() : value / primary();
    return value;
  };
  const sum = (): number => {
    let value = product();
    while (peek() === "+" || peek() === "-") value = take() === "+" ? value + product() : value - product();
    return value;
  };

  const value = sum();
  if (position !== tokens.length) throw new Error(`unexpected '${peek()}'`);
  if (!Number.isFinite(value)) throw new Error("result is not a finite number");
  return value;
}
