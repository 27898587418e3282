"""One torch thread: the suite runs two test processes on two cores, and
torch's own threads would only compete with them."""

import torch

torch.set_num_threads(1)
