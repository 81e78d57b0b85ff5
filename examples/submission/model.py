"""An example submission for ``harness submit``: ``build()`` returns a model behind the contract.

Here the model is the zoo's small CNN at 64 px, so the weights of ``harness train --detector cnn``
fit it. Your own model goes the same way: build your ``nn.Module`` (returning ``[real, fake]``
logits, or one fake logit) and wrap it with ``wrap_model``, which puts the input normalization
inside::

    from harness.detectors import wrap_model

    def build():
        return wrap_model(MyNet(), name="my-net", input_size=224,
                          mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
"""

from harness.detectors import Detector, create_detector


def build() -> Detector:
    """The small CNN of the zoo at 64x64 input (untrained: the weights come with --checkpoint)."""
    return create_detector("cnn", input_size=64)
