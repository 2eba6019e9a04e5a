"""Trainer integrations, each imported on its own so that `import stepsize` imports no
trainer: `stepsize.integrations.transformers` (Hugging Face `Trainer`) and
`stepsize.integrations.lightning` (Lightning). `hf_schedulers` reads the schedulers
`transformers.get_scheduler` returns without importing transformers."""
