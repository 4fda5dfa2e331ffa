//! The kernel table: the shader families (one WGSL file each, with its
//! preludes) and every entry point medgpu dispatches ([`KernelId`]).

/// Shared prelude prepended to every family (activation codes and helpers).
pub const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");

/// Prelude of the convolution families (uniform, overrides, bindings, helpers).
pub const CONV_COMMON_WGSL: &str = include_str!("../../shaders/conv_common.wgsl");

/// Prelude of the window families (conv, conv_sg, pool): the geometry as override constants.
pub const WINDOW_COMMON_WGSL: &str = include_str!("../../shaders/window_common.wgsl");

/// Prelude of the matmul families (uniform, overrides, bindings, epilogue).
pub const MATMUL_COMMON_WGSL: &str = include_str!("../../shaders/matmul_common.wgsl");

/// Storage-buffer operands of matmul.wgsl and matmul_sg.wgsl (bindings 1 and 2).
pub const MATMUL_OPERANDS_WGSL: &str = include_str!("../../shaders/matmul_operands.wgsl");

/// Prelude of the subgroup variants (COLS, fma8).
pub const SUBGROUP_COMMON_WGSL: &str = include_str!("../../shaders/subgroup_common.wgsl");

/// Prelude of the subgroup convolution families (conv_sg, conv_sg4): overrides, first row, stores.
pub const CONV_SG_COMMON_WGSL: &str = include_str!("../../shaders/conv_sg_common.wgsl");

/// Prelude of the recurrent families (equations, uniform, bindings, helpers).
pub const RNN_COMMON_WGSL: &str = include_str!("../../shaders/rnn_common.wgsl");

/// Bodies of the persistent recurrences (rnn.wgsl and rnn_sg.wgsl hold their entry points).
pub const RNN_PERSISTENT_WGSL: &str = include_str!("../../shaders/rnn_persistent.wgsl");

/// Prelude of the one-subgroup-per-row recurrences (rnn_lanes and
/// rnn_lanes_gru_elman): overrides, vec4 bindings, lane helpers.
pub const RNN_LANES_COMMON_WGSL: &str = include_str!("../../shaders/rnn_lanes_common.wgsl");

macro_rules! family_table {
    ($($(#[$doc:meta])* $variant:ident => $file:literal, [$($prelude:ident),*];)*) => {
        /// A shader file: one family of kernels.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Family {
            $($(#[$doc])* $variant,)*
        }

        impl Family {
            /// Every family.
            pub const ALL: &'static [Family] = &[$(Family::$variant),*];

            /// File name under shaders/.
            pub fn file(self) -> &'static str {
                match self { $(Family::$variant => $file),* }
            }

            fn body(self) -> &'static str {
                match self { $(Family::$variant => include_str!(concat!("../../shaders/", $file))),* }
            }

            /// The preludes the family's file is compiled after (beside the common one).
            fn preludes(self) -> &'static [&'static str] {
                match self { $(Family::$variant => &[$($prelude),*]),* }
            }

            /// The full WGSL source: the common prelude, the family's own
            /// preludes (convolution, matmul, recurrence, subgroup), then its file.
            pub fn source(self) -> String {
                format!("{COMMON_WGSL}\n{}\n{}", self.preludes().join("\n"), self.body())
            }
        }
    };
}

// One row per shader file: the family, its file under shaders/, its preludes.
family_table! {
    /// shaders/matmul.wgsl
    Matmul => "matmul.wgsl", [MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL];
    /// shaders/elementwise.wgsl
    Elementwise => "elementwise.wgsl", [];
    /// shaders/reduce.wgsl
    Reduce => "reduce.wgsl", [];
    /// shaders/loss.wgsl
    Loss => "loss.wgsl", [];
    /// shaders/optim.wgsl
    Optim => "optim.wgsl", [];
    /// shaders/data.wgsl
    Data => "data.wgsl", [];
    /// shaders/dropout.wgsl
    Dropout => "dropout.wgsl", [];
    /// shaders/guard.wgsl
    Guard => "guard.wgsl", [];
    /// shaders/conv.wgsl
    Conv => "conv.wgsl", [WINDOW_COMMON_WGSL, CONV_COMMON_WGSL];
    /// shaders/pool.wgsl
    Pool => "pool.wgsl", [WINDOW_COMMON_WGSL];
    /// shaders/batchnorm.wgsl
    BatchNorm => "batchnorm.wgsl", [];
    /// shaders/conv_sg.wgsl (subgroup variants; adapters with SUBGROUP only)
    ConvSg => "conv_sg.wgsl", [WINDOW_COMMON_WGSL, CONV_COMMON_WGSL, SUBGROUP_COMMON_WGSL, CONV_SG_COMMON_WGSL];
    /// shaders/conv_sg4.wgsl (their four-pixel variants, for rows of a multiple of 4)
    ConvSg4 => "conv_sg4.wgsl", [WINDOW_COMMON_WGSL, CONV_COMMON_WGSL, SUBGROUP_COMMON_WGSL, CONV_SG_COMMON_WGSL];
    /// shaders/rnn.wgsl (persistent: hidden sizes up to 64)
    Rnn => "rnn.wgsl", [RNN_COMMON_WGSL, RNN_PERSISTENT_WGSL];
    /// shaders/rnn_sg.wgsl (subgroup entry points of the persistent
    /// recurrences; adapters with SUBGROUP only)
    RnnSg => "rnn_sg.wgsl", [RNN_COMMON_WGSL, RNN_PERSISTENT_WGSL];
    /// shaders/rnn_step.wgsl (one dispatch per step: larger hidden sizes)
    RnnStep => "rnn_step.wgsl", [RNN_COMMON_WGSL];
    /// shaders/rnn_lanes.wgsl (LSTM with one 8-wide subgroup per batch
    /// row: CPU adapters with SUBGROUP, hidden sizes up to 32)
    RnnLanes => "rnn_lanes.wgsl", [RNN_COMMON_WGSL, RNN_LANES_COMMON_WGSL];
    /// shaders/rnn_lanes_gru_elman.wgsl (the same for GRU and Elman layers)
    RnnLanesGruElman => "rnn_lanes_gru_elman.wgsl", [RNN_COMMON_WGSL, RNN_LANES_COMMON_WGSL];
    /// shaders/rnn_grads.wgsl (recurrent weight gradients in one pass: CPU
    /// adapters with SUBGROUP)
    RnnGrads => "rnn_grads.wgsl", [];
    /// shaders/matmul_sg.wgsl (subgroup variants; adapters with SUBGROUP only)
    MatmulSg => "matmul_sg.wgsl", [MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL, SUBGROUP_COMMON_WGSL];
    /// shaders/matmul_tex.wgsl (texture variants; CPU adapters with SUBGROUP)
    MatmulTex => "matmul_tex.wgsl", [MATMUL_COMMON_WGSL];
    /// shaders/matmul_pack.wgsl (packs the operands of the texture variants)
    MatmulPack => "matmul_pack.wgsl", [MATMUL_COMMON_WGSL];
    /// shaders/matmul_tiled.wgsl (workgroup-tiled variants; GPUs)
    MatmulTiled => "matmul_tiled.wgsl", [MATMUL_COMMON_WGSL, MATMUL_OPERANDS_WGSL];
}

macro_rules! kernel_table {
    ($($variant:ident => $family:ident, $entry:literal;)*) => {
        /// One WGSL compute entry point.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum KernelId {
            $(
                #[doc = concat!("`", $entry, "` in the ", stringify!($family), " family.")]
                $variant,
            )*
        }

        impl KernelId {
            /// Every kernel.
            pub const ALL: &'static [KernelId] = &[$(KernelId::$variant),*];

            /// The shader file it lives in.
            pub fn family(self) -> Family {
                match self { $(KernelId::$variant => Family::$family),* }
            }

            /// The WGSL entry point name.
            pub fn entry_point(self) -> &'static str {
                match self { $(KernelId::$variant => $entry),* }
            }
        }
    };
}

kernel_table! {
    MatmulNn => Matmul, "matmul_nn";
    MatmulNt => Matmul, "matmul_nt";
    MatmulTn => Matmul, "matmul_tn";
    MatmulNnSg => MatmulSg, "matmul_nn_sg";
    MatmulNtSg => MatmulSg, "matmul_nt_sg";
    MatmulTnSg => MatmulSg, "matmul_tn_sg";
    MatmulTnRows4 => MatmulSg, "matmul_tn_rows4";
    MatmulNnTex => MatmulTex, "matmul_nn_tex";
    MatmulNtTex => MatmulTex, "matmul_nt_tex";
    MatmulTnTex => MatmulTex, "matmul_tn_tex";
    MatmulNnTiled => MatmulTiled, "matmul_nn_tiled";
    MatmulNtTiled => MatmulTiled, "matmul_nt_tiled";
    MatmulTnTiled => MatmulTiled, "matmul_tn_tiled";
    MatmulPackRows => MatmulPack, "matmul_pack_rows";
    MatmulPackCols => MatmulPack, "matmul_pack_cols";
    ActivationForward => Elementwise, "activation_forward";
    ActivationBackward => Elementwise, "activation_backward";
    AddInto => Elementwise, "add_into";
    SoftmaxForward => Reduce, "softmax_forward";
    SoftmaxBackward => Reduce, "softmax_backward";
    GradNormPartial => Guard, "grad_norm_partial";
    GradGuard => Guard, "grad_guard";
    MseLoss => Loss, "mse_loss";
    BceWithLogitsLoss => Loss, "bce_with_logits_loss";
    SoftmaxCrossEntropyLoss => Loss, "softmax_cross_entropy_loss";
    OutputScore => Loss, "output_score";
    SgdStep => Optim, "sgd_step";
    AdamStep => Optim, "adam_step";
    SgdStepFused => Optim, "sgd_step_fused";
    AdamStepFused => Optim, "adam_step_fused";
    GatherRows => Data, "gather_rows";
    DropoutForward => Dropout, "dropout_forward";
    DropoutBackward => Dropout, "dropout_backward";
    Conv2dForward => Conv, "conv2d_forward";
    Conv2dBackwardInput => Conv, "conv2d_backward_input";
    Conv2dBackwardWeight => Conv, "conv2d_backward_weight";
    Conv2dForwardSg => ConvSg, "conv2d_forward_sg";
    Conv2dBackwardInputSg => ConvSg, "conv2d_backward_input_sg";
    Conv2dBackwardWeightSg => ConvSg, "conv2d_backward_weight_sg";
    Conv2dBackwardWeightSg4 => ConvSg4, "conv2d_backward_weight_sg4";
    Conv2dForwardSg4 => ConvSg4, "conv2d_forward_sg4";
    Conv2dBackwardInputSg4 => ConvSg4, "conv2d_backward_input_sg4";
    Conv2dBackwardWeightKx3 => ConvSg4, "conv2d_backward_weight_kx3";
    LstmForward => Rnn, "lstm_forward";
    LstmBackward => Rnn, "lstm_backward";
    GruForward => Rnn, "gru_forward";
    GruBackward => Rnn, "gru_backward";
    ElmanForward => Rnn, "elman_forward";
    ElmanBackward => Rnn, "elman_backward";
    LstmForwardSg => RnnSg, "lstm_forward_sg";
    LstmBackwardSg => RnnSg, "lstm_backward_sg";
    GruForwardSg => RnnSg, "gru_forward_sg";
    GruBackwardSg => RnnSg, "gru_backward_sg";
    ElmanForwardSg => RnnSg, "elman_forward_sg";
    ElmanBackwardSg => RnnSg, "elman_backward_sg";
    LstmForwardLanes => RnnLanes, "lstm_forward_lanes";
    LstmBackwardLanes => RnnLanes, "lstm_backward_lanes";
    LstmBackwardGradsLanes => RnnLanes, "lstm_backward_grads_lanes";
    GruForwardLanes => RnnLanesGruElman, "gru_forward_lanes";
    GruBackwardLanes => RnnLanesGruElman, "gru_backward_lanes";
    ElmanForwardLanes => RnnLanesGruElman, "elman_forward_lanes";
    ElmanBackwardLanes => RnnLanesGruElman, "elman_backward_lanes";
    RnnGradsPartial => RnnGrads, "rnn_grads_partial";
    RnnGradsReduce => RnnGrads, "rnn_grads_reduce";
    LstmStepForward => RnnStep, "lstm_step_forward";
    LstmStepBackward => RnnStep, "lstm_step_backward";
    GruStepForward => RnnStep, "gru_step_forward";
    GruStepBackward => RnnStep, "gru_step_backward";
    ElmanStepForward => RnnStep, "elman_step_forward";
    ElmanStepBackward => RnnStep, "elman_step_backward";
    MaxpoolForward => Pool, "maxpool_forward";
    MaxpoolBackward => Pool, "maxpool_backward";
    MaxpoolForwardV4 => Pool, "maxpool_forward_v4";
    MaxpoolBackwardV4 => Pool, "maxpool_backward_v4";
    MaxpoolForwardV8 => Pool, "maxpool_forward_v8";
    MaxpoolBackwardV8 => Pool, "maxpool_backward_v8";
    AvgpoolForward => Pool, "avgpool_forward";
    AvgpoolBackward => Pool, "avgpool_backward";
    UpsampleForward => Pool, "upsample_forward";
    UpsampleBackward => Pool, "upsample_backward";
    BatchnormForwardTrain => BatchNorm, "batchnorm_forward_train";
    BatchnormForwardEval => BatchNorm, "batchnorm_forward_eval";
    BatchnormBackward => BatchNorm, "batchnorm_backward";
    BatchnormBackwardEval => BatchNorm, "batchnorm_backward_eval";
}
