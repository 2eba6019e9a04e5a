// Copy-paste snippets for a pinned reference (ns/name@3): Keras, PyTorch, the CLI.

import { esc } from "./util.js";

export function snippets(ref) {
  const blocks = {
    keras: `import keras
import stepsize

sched = stepsize.Client().schedule("${ref}")  # STEPSIZE_URL, STEPSIZE_TOKEN
optimizer = keras.optimizers.Adam(learning_rate=sched.keras())`,
    torch: `import torch
import stepsize

sched = stepsize.Client().schedule("${ref}")  # STEPSIZE_URL, STEPSIZE_TOKEN
optimizer = torch.optim.AdamW(model.parameters(), lr=sched(0))
scheduler = sched.torch_scheduler(optimizer)  # scheduler.step() after optimizer.step()`,
    cli: `stepsize show ${ref}
stepsize lr ${ref} 1000
stepsize plot ${ref}`,
  };
  return Object.entries(blocks)
    .map(([name, code]) => `<div class="snippet"><b>${name}</b>
      <pre id="snippet-${name}">${esc(code)}</pre><button data-copy="#snippet-${name}">copy</button></div>`)
    .join("");
}
