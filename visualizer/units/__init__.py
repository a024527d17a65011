"""Inside one unit: the arithmetic behind one number of a feature map, and the pixels that really move it.

``capture`` gets a layer call's input and output tensors for one image (``LayerTensors``; today from its own
forward hooks, later from the image's ``ForwardPass``); ``prepare`` turns a model name or module, weights and
an image into what a request needs (model, input tensor, the analysis engine's records); ``compute`` works
one unit out with the layer's own numbers (``explain_unit``, ``LayerUnits`` for ◀ ▶ stepping); ``erf`` measures
the effective receptive field (``effective_rf``); ``pictures`` draws both from plain values, never a model.
"""
