"""The engine: it owns the training loop and evaluation, and knows a task only through the
:class:`~avrepro.tasks.base.Task` contract.

- :mod:`~avrepro.engine.train`: a training run (resume, epochs, checkpoints, published outputs).
- :mod:`~avrepro.engine.loop`: batch order, one training step, loss sums, validation.
- :mod:`~avrepro.engine.runtime`: device, seeds, autocast, batches on the device, the module the
  step calls (:class:`~avrepro.engine.runtime.LossModule`) and its DDP / compile wrappers.
- :mod:`~avrepro.engine.optim`: optimizer, learning-rate schedule, fp16 loss scaler.
- :mod:`~avrepro.engine.evaluate`: a checkpoint or a baseline on the test split -> metric files.
- :mod:`~avrepro.engine.checkpoint`, :mod:`~avrepro.engine.ddp`: atomic checkpoints; multi-process training.
"""
