"""What generative models are for, each use one module on top of the model contract (apps import
models, never the reverse)."""
